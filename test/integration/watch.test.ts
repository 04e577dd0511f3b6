// Watch as etcd clients use it, over the gateway's HTTP stream and over WebSocket: ordered,
// atomic events with prev_kv and filters, many watchers per socket, progress, resuming on any
// member with start_revision, and cancelation when a watcher falls behind compaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpWatch, socketWatch, type WatchResult } from '../support/watch-client.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const events = (results: WatchResult[]) => results.flatMap((r) => r.events ?? [])

describe('watch', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  async function put(key: string, value: string): Promise<number> {
    const r = await cluster.post('/v3/kv/put', { key: b64(key), value: b64(value) })
    expect(r.status).toBe(200)
    return Number((r.json as { header: { revision: string } }).header.revision)
  }

  it('streams puts and deletes over HTTP, in order, with prev_kv', async () => {
    const w = await httpWatch(cluster.url, [
      { create_request: { key: b64('h/'), range_end: b64('h0'), prev_kv: true } },
    ])
    await w.until((r) => r.some((x) => x.created))
    const first = await put('h/a', '1')
    await put('h/a', '2')
    await put('other', 'x')
    await cluster.post('/v3/kv/deleterange', { key: b64('h/a') })
    const got = await w.until((r) => events(r).length >= 3)
    w.close()
    const evs = events(got)
    expect(evs.map((e) => [e.type ?? 'PUT', e.kv.mod_revision])).toEqual([
      ['PUT', String(first)],
      ['PUT', String(first + 1)],
      ['DELETE', String(first + 3)],
    ])
    expect(evs[0]!.kv).toMatchObject({ key: b64('h/a'), value: b64('1'), version: '1' })
    expect(evs[0]!.prev_kv).toBeUndefined()
    expect(evs[1]!.prev_kv).toMatchObject({ value: b64('1') })
    expect(evs[2]!.prev_kv).toMatchObject({ value: b64('2') })
  })

  it('multiplexes watchers on one WebSocket, with filters, cancel and progress', async () => {
    const ws = await socketWatch(cluster.url)
    ws.send({ create_request: { key: b64('s/a'), watch_id: '10' } })
    ws.send({ create_request: { key: b64('s/b'), filters: ['NOPUT'] } })
    await ws.until((r) => r.filter((x) => x.created).length === 2)
    expect(ws.results.map((r) => r.watch_id)).toEqual(['10', undefined])

    ws.send({ create_request: { key: b64('s/c'), watch_id: '10' } })
    await ws.until((r) => r.some((x) => x.canceled && x.watch_id === '-1'))
    expect(ws.results.at(-1)!.cancel_reason).toBe(
      'mvcc: duplicate watch ID provided on the WatchStream',
    )

    await put('s/a', '1')
    await put('s/b', '1')
    await cluster.post('/v3/kv/deleterange', { key: b64('s/b') })
    await ws.until((r) => events(r).length >= 2)
    const byWatch = ws.results.filter((r) => r.events)
    expect(byWatch.map((r) => [r.watch_id, r.events![0]!.type ?? 'PUT'])).toEqual([
      ['10', 'PUT'],
      [undefined, 'DELETE'],
    ])

    ws.send({ cancel_request: { watch_id: '10' } })
    await ws.until((r) => r.some((x) => x.canceled && x.watch_id === '10'))
    ws.send({ progress_request: {} })
    await ws.until((r) => r.some((x) => x.watch_id === '-1' && !x.canceled))
    ws.close()
  })

  it('resumes from start_revision with exactly the missing events, on any member', async () => {
    const start = await put('r/k', '0')
    for (let i = 1; i < 10; i++) await put('r/k', String(i))
    // Each new stream may land on a different member: all must replay the same events.
    for (let attempt = 0; attempt < 3; attempt++) {
      const w = await httpWatch(cluster.url, [
        { create_request: { key: b64('r/k'), start_revision: String(start + 5) } },
      ])
      const got = await w.until((r) => events(r).length >= 5)
      w.close()
      expect(events(got).map((e) => Number(e.kv.mod_revision))).toEqual(
        [5, 6, 7, 8, 9].map((i) => start + i),
      )
      expect(events(got).map((e) => e.kv.value)).toEqual(['5', '6', '7', '8', '9'].map(b64))
    }
  })

  it('cancels a watcher whose start revision was compacted, with compact_revision', async () => {
    const rev = await put('c/k', 'v')
    await put('c/k', 'w')
    const compact = await cluster.post('/v3/kv/compaction', { revision: String(rev + 1) })
    expect(compact.status).toBe(200)
    const w = await httpWatch(cluster.url, [
      { create_request: { key: b64('c/k'), start_revision: String(rev) } },
    ])
    const got = await w.until((r) => r.some((x) => x.canceled))
    w.close()
    expect(got.at(-1)).toMatchObject({ canceled: true, compact_revision: String(rev + 1) })
    expect(got.at(-1)!.header.revision).toBeUndefined()
  })

  it("answers a malformed first request with etcd's error", async () => {
    const r = await cluster.post('/v3/watch', '{"create_request":{"key":1}}')
    expect(r.status).toBe(500)
    expect(r.json).toMatchObject({ code: 2 })
  })
})

describe('watch under member faults', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({
      vars: {
        DEV_FAULTS: 'true',
        WATCH_PROGRESS_NOTIFY_INTERVAL_MS: '300',
        MAX_REQUEST_BYTES: '4096',
      },
    })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  async function put(key: string, value: string): Promise<number> {
    const r = await cluster.post('/v3/kv/put', { key: b64(key), value: b64(value) })
    expect(r.status).toBe(200)
    return Number((r.json as { header: { revision: string } }).header.revision)
  }

  it('sends periodic progress notifications to watchers that ask for them', async () => {
    const w = await httpWatch(cluster.url, [
      { create_request: { key: b64('p'), progress_notify: true } },
    ])
    const got = await w.until((r) => r.filter((x) => !x.created && !x.events).length >= 2, 5_000)
    w.close()
    const progress = got.filter((x) => !x.created)
    expect(progress[0]).toMatchObject({ header: { revision: expect.any(String) } })
    expect(progress[0]!.events).toBeUndefined()
  })

  it('a client whose member crashed resumes elsewhere with nothing lost or repeated', async () => {
    const ws = await socketWatch(cluster.url)
    ws.send({ create_request: { key: b64('f/'), range_end: b64('f0') } })
    const [created] = await ws.until((r) => r.some((x) => x.created))
    const statuses = (await cluster.get('/_dev/members')).json as {
      name: string
      memberId: string
    }[]
    const host = statuses.find((s) => s.memberId === created!.header.member_id)!.name
    const first = await put('f/1', 'a')
    await ws.until((r) => r.some((x) => x.events))
    await cluster.post(`/_dev/members/${host}/crash`)
    // Writes go on while the client is disconnected.
    for (let i = 2; i <= 5; i++) await put(`f/${i}`, 'b')
    ws.close()
    const seen = ws.results.flatMap((r) => r.events ?? []).map((e) => Number(e.kv.mod_revision))
    const resumeFrom = Math.max(...seen) + 1
    const again = await httpWatch(cluster.url, [
      {
        create_request: {
          key: b64('f/'),
          range_end: b64('f0'),
          start_revision: String(resumeFrom),
        },
      },
    ])
    const got = await again.until((r) => events(r).length >= 5 - seen.length)
    again.close()
    const all = [...seen, ...events(got).map((e) => Number(e.kv.mod_revision))]
    expect(all).toEqual([first, first + 1, first + 2, first + 3, first + 4])
  })

  it('splits a large revision into fragments only for watchers that ask for them', async () => {
    const value = b64('x'.repeat(1500))
    for (let i = 1; i <= 5; i++) await put(`g/${i}`, 'x'.repeat(1500))
    const range = { key: b64('g/'), range_end: b64('g0'), prev_kv: true }
    const whole = await httpWatch(cluster.url, [{ create_request: range }])
    const split = await httpWatch(cluster.url, [{ create_request: { ...range, fragment: true } }])
    await whole.until((r) => r.some((x) => x.created))
    await split.until((r) => r.some((x) => x.created))
    // One revision deletes five keys; with their previous values it exceeds MAX_REQUEST_BYTES.
    const del = await cluster.post('/v3/kv/deleterange', { key: b64('g/'), range_end: b64('g0') })
    expect(del.json).toMatchObject({ deleted: '5' })
    const wholeGot = await whole.until((r) => events(r).length >= 5)
    const splitGot = await split.until((r) => events(r).length >= 5)
    whole.close()
    split.close()
    expect(wholeGot.filter((r) => r.events)).toHaveLength(1)
    const parts = splitGot.filter((r) => r.events)
    expect(parts.length).toBeGreaterThan(1)
    expect(parts.map((p) => p.fragment === true)).toEqual(parts.map((_, i) => i < parts.length - 1))
    expect(events(splitGot).every((e) => e.prev_kv?.value === value)).toBe(true)
  })
})
