// Watch against real etcd 3.4: the same writes, watched the same ways, give the same events
// (type, kv, prev_kv, order), the same created/canceled/compaction answers and the same
// historical replay. Framing may differ (etcd may also put several revisions in one response),
// so events are compared flattened, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpWatch, type WatchResult } from '../support/watch-client.ts'
import { requireEtcd, startEtcd, type EtcdProcess } from './etcd.ts'

const haveEtcd = requireEtcd()
const b64 = (s: string) => Buffer.from(s).toString('base64')

/** Everything but framing and member identity: control answers and events, in order. */
function flatten(results: WatchResult[]): unknown[] {
  const out: unknown[] = []
  for (const r of results) {
    const { header: _header, events, ...control } = r
    if (Object.keys(control).length > 0) out.push(control)
    for (const e of events ?? []) out.push(e)
  }
  return out
}

async function post(baseUrl: string, path: string, body: object): Promise<void> {
  const r = await fetch(baseUrl + path, { method: 'POST', body: JSON.stringify(body) })
  await r.text()
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`)
}

/** The scenario, run against one target; returns what three watchers saw. */
async function scenario(baseUrl: string): Promise<unknown[][]> {
  const live = await httpWatch(baseUrl, [
    { create_request: { key: b64('w/'), range_end: b64('w0'), prev_kv: true } },
  ])
  const filtered = await httpWatch(baseUrl, [
    { create_request: { key: b64('w/a'), watch_id: '3', filters: ['NOPUT'] } },
  ])
  await live.until((r) => r.some((x) => x.created))
  await filtered.until((r) => r.some((x) => x.created))

  await post(baseUrl, '/v3/kv/put', { key: b64('w/a'), value: b64('1') })
  await post(baseUrl, '/v3/kv/put', { key: b64('w/b'), value: b64('2') })
  await post(baseUrl, '/v3/kv/txn', {
    success: [
      { request_put: { key: b64('w/a'), value: b64('3') } },
      { request_put: { key: b64('w/c'), value: b64('4') } },
    ],
  })
  await post(baseUrl, '/v3/kv/put', { key: b64('elsewhere'), value: b64('x') })
  await post(baseUrl, '/v3/kv/deleterange', { key: b64('w/'), range_end: b64('w0') })
  await live.until((r) => r.flatMap((x) => x.events ?? []).length >= 7)
  await filtered.until((r) => r.flatMap((x) => x.events ?? []).length >= 1)
  live.close()
  filtered.close()

  const replay = await httpWatch(baseUrl, [
    { create_request: { key: b64('w/a'), start_revision: '3' } },
  ])
  await replay.until((r) => r.flatMap((x) => x.events ?? []).length >= 2)
  replay.close()

  await post(baseUrl, '/v3/kv/compaction', { revision: '4' })
  const compacted = await httpWatch(baseUrl, [
    { create_request: { key: b64('w/a'), start_revision: '2' } },
  ])
  await compacted.until((r) => r.some((x) => x.canceled))
  compacted.close()

  return [live.results, filtered.results, replay.results, compacted.results].map(flatten)
}

describe.skipIf(!haveEtcd)('watch matches etcd 3.4', () => {
  let etcd: EtcdProcess
  let cluster: TestCluster
  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([startEtcd(), startTestCluster()])
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  it('gives the same events and answers for the same writes', async () => {
    const want = await scenario(etcd.url)
    const got = await scenario(cluster.url)
    expect(got).toEqual(want)
  })

  // Found by the bad-input fuzzer (test/e2e/bad-input.test.ts).
  it.each([
    ['a range_end before the key', { key: b64('w/b'), range_end: b64('w/a') }],
    ['a range_end equal to the key', { key: b64('w/b'), range_end: b64('w/b') }],
    ['a negative start_revision', { key: b64('w/a'), start_revision: '-5' }],
  ])('refuses %s as etcd does', async (_what, create) => {
    const answer = async (url: string) => {
      const w = await httpWatch(url, [{ create_request: create }])
      await w.until((r) => r.some((x) => x.canceled))
      w.close()
      return flatten(w.results)
    }
    expect(await answer(cluster.url)).toEqual(await answer(etcd.url))
  })
})
