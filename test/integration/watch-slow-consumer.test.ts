// A WebSocket watch client that stops reading while writes go on (etcd api_guarantees: a slow
// consumer must not take the server down). workerd queues every frame of a socket whose client
// does not read, without limit and without telling the sender (docs/design.md, "Watch"), so the
// member accounts for what it handed each socket. Proven here with a real `ws` client whose TCP
// socket is paused: it is canceled with a reason, what the runtime held for it (everything it
// receives once it reads again) stays within the bound, the member stays healthy, and other
// watchers on the same member get every event.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { socketWatch, type WatchResult } from '../support/watch-client.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const MAX_BACKLOG = 256 * 1024
const DRAIN_PER_SEC = 16 * 1024

/** A raw `ws` watch client that can stop reading (its TCP socket paused). */
async function pausableSocket(url: string) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v3/watch`, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const results: WatchResult[] = []
  let bytes = 0
  let closed: { code: number; reason: string } | undefined
  ws.on('message', (data: Buffer) => {
    bytes += data.length
    results.push((JSON.parse(String(data)) as { result: WatchResult }).result)
  })
  ws.on('close', (code, reason) => (closed = { code, reason: String(reason) }))
  const tcp = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  return {
    ws,
    results,
    bytes: () => bytes,
    closed: () => closed,
    pause: () => tcp.pause(),
    resume: () => tcp.resume(),
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('a WebSocket watch client that stops reading', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({
      vars: {
        WATCH_MAX_BACKLOG_BYTES: String(MAX_BACKLOG),
        WATCH_WS_DRAIN_BYTES_PER_SEC: String(DRAIN_PER_SEC),
      },
    })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('is canceled with a reason while the member and other watchers carry on', async () => {
    const slow = await pausableSocket(cluster.url)
    slow.ws.send(JSON.stringify({ create_request: { key: b64('big/'), range_end: b64('big0') } }))
    await until(() => slow.results.some((r) => r.created), 'the slow watcher')
    const slowMember = slow.results[0]!.header.member_id

    // Healthy watchers on the same member (the front door picks one per stream).
    const healthy = []
    for (let i = 0; i < 20 && healthy.length < 2; i++) {
      const w = await socketWatch(cluster.url)
      w.send({ create_request: { key: b64('light/'), range_end: b64('light0') } })
      const [created] = await w.until((r) => r.some((x) => x.created))
      if (created!.header.member_id === slowMember) healthy.push(w)
      else w.close()
    }
    expect(healthy.length).toBe(2)

    slow.pause()
    const started = Date.now()
    const bigPuts = 200
    let lightPuts = 0
    let bigBytes = 0
    for (let i = 0; i < bigPuts; i++) {
      // Incompressible values: what the socket holds is what its client has not read.
      const value = randomBytes(8 * 1024).toString('base64')
      bigBytes += value.length
      const r = await cluster.post('/v3/kv/put', { key: b64(`big/${i % 20}`), value: b64(value) })
      expect(r.status).toBe(200)
      if (i % 10 === 0) {
        const l = await cluster.post('/v3/kv/put', {
          key: b64(`light/${lightPuts}`),
          value: 'AA==',
        })
        expect(l.status).toBe(200)
        lightPuts++
      }
    }
    const writeSeconds = (Date.now() - started) / 1000

    // The member is healthy and the other watchers on it got every event, in order.
    expect((await cluster.get('/health')).status).toBe(200)
    for (const w of healthy) {
      const got = await w.until((r) => r.flatMap((x) => x.events ?? []).length >= lightPuts)
      const keys = got.flatMap((x) => x.events ?? []).map((e) => e.kv.key)
      expect(keys).toEqual(Array.from({ length: lightPuts }, (_, i) => b64(`light/${i}`)))
      expect(got.some((x) => x.canceled)).toBe(false)
      w.close()
    }

    // The slow client reads again: it gets what the runtime held for it, then the cancel.
    slow.resume()
    await until(() => slow.closed() !== undefined, 'the slow socket to close')
    expect(slow.closed()!.code).toBe(1008)
    expect(slow.closed()!.reason).toMatch(/^slow consumer/)
    const cancel = slow.results.find((r) => r.canceled)
    expect(cancel).toMatchObject({
      canceled: true,
      cancel_reason: expect.stringMatching(/^slow consumer/),
    })
    const delivered = slow.results.flatMap((r) => r.events ?? []).length
    expect(delivered).toBeLessThan(bigPuts / 2)
    // Everything it received had waited in the runtime: the accounted bound, plus the drain
    // assumed over the write phase, plus one event's frame.
    const bound = MAX_BACKLOG + DRAIN_PER_SEC * (writeSeconds + 1) + 32 * 1024
    expect(slow.bytes()).toBeLessThan(bound)
    expect(slow.bytes()).toBeLessThan(bigBytes / 2)

    // And the member still takes writes and serves new watchers.
    const again = await socketWatch(cluster.url)
    again.send({ create_request: { key: b64('after') } })
    await again.until((r) => r.some((x) => x.created))
    expect((await cluster.post('/v3/kv/put', { key: b64('after'), value: 'AA==' })).status).toBe(
      200,
    )
    await again.until((r) => r.some((x) => x.events))
    again.close()
  })
})
