// Maintenance against real etcd 3.4: the same status, alarm, defragment, move-leader and health
// requests give the same answers (status, body) from etcd and from the local cluster, ignoring
// what legitimately differs: cluster/member ids, raft term, database sizes and raft indexes, and
// (after filling each store past its quota) how many puts fitted and so the revision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { normalize, requireEtcd, startEtcd, type EtcdProcess } from './etcd.ts'

const haveEtcd = requireEtcd()
const b64 = (s: string) => Buffer.from(s).toString('base64')

interface Answer {
  status: number
  text: string
  json: unknown
}

type Call = { method: 'GET' | 'POST'; path: string; body?: unknown }

async function call(baseUrl: string, c: Call): Promise<Answer> {
  const init: RequestInit =
    c.method === 'GET'
      ? { method: 'GET' }
      : { method: 'POST', body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body ?? {}) }
  const r = await fetch(baseUrl + c.path, init)
  const text = await r.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: r.status, text, json }
}

/**
 * What must agree: the status and the body with per-member values replaced by their kind
 * (sizes, indexes, leader, member ids inside alarms), status errors as a set (etcd lists alarm
 * types in Go map order).
 */
function comparable(a: Answer, options: { revision?: boolean } = {}): unknown {
  if (a.json === undefined) return { status: a.status, text: a.text }
  const body = normalize(a.json) as Record<string, unknown>
  if (body === null || typeof body !== 'object') return { status: a.status, body }
  const o = { ...body }
  if (options.revision === false && o['header']) o['header'] = { revision: 'any' }
  for (const k of [
    'dbSize',
    'dbSizeInUse',
    'leader',
    'raftIndex',
    'raftTerm',
    'raftAppliedIndex',
  ]) {
    if (k in o) o[k] = `<${typeof o[k]}>`
  }
  if (Array.isArray(o['errors'])) {
    o['errors'] = (o['errors'] as string[])
      .map((e) => e.replace(/memberID:\d{6,}/, 'memberID:ID'))
      .sort()
  }
  if (Array.isArray(o['alarms'])) {
    o['alarms'] = (o['alarms'] as { memberID?: string }[])
      .map((a) => (a.memberID && a.memberID.length >= 6 ? { ...a, memberID: 'ID' } : a))
      .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1))
  }
  if ('hash' in o) o['hash'] = `<${typeof o['hash']}>`
  return { status: a.status, body: o }
}

const post = (path: string, body?: unknown): Call => ({ method: 'POST', path, body })
const get = (path: string): Call => ({ method: 'GET', path })

/** Alarms raised and cleared by hand, and what each alarm lets through. */
const ALARM_SEQUENCE: Call[] = [
  post('/v3/maintenance/status'),
  post('/v3/maintenance/status', '{"unknown":1}'),
  post('/v3/maintenance/status', 'garbage'),
  post('/v3/maintenance/alarm', { action: 'GET' }),
  post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID: '5', alarm: 'NOSPACE' }),
  post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID: '5', alarm: 'NOSPACE' }),
  post('/v3/maintenance/alarm', { action: 1, memberID: 2, alarm: 0 }),
  post('/v3/maintenance/alarm', {}),
  post('/v3/maintenance/alarm', { action: 'GET', alarm: 'NOSPACE' }),
  post('/v3/maintenance/alarm', { action: 'GET', alarm: 'CORRUPT' }),
  post('/v3/maintenance/status'),
  get('/health'),
  get('/health?exclude=NOSPACE'),
  post('/v3/kv/put', { key: b64('a'), value: b64('1') }),
  post('/v3/kv/txn', { success: [{ requestPut: { key: b64('a'), value: b64('1') } }] }),
  post('/v3/kv/txn', { success: [{ requestRange: { key: b64('a') } }] }),
  post('/v3/kv/txn', { success: [{ requestDeleteRange: { key: b64('a') } }] }),
  post('/v3/kv/deleterange', { key: b64('a') }),
  post('/v3/kv/range', { key: b64('a') }),
  post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '5', alarm: 'NOSPACE' }),
  post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '5', alarm: 'NOSPACE' }),
  post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '2', alarm: 'NONE' }),
  post('/v3/maintenance/alarm', { action: 'GET' }),
  post('/v3/kv/put', { key: b64('a'), value: b64('1') }),
  post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID: '3', alarm: 'CORRUPT' }),
  post('/v3/kv/put', { key: b64('a'), value: b64('2') }),
  post('/v3/kv/deleterange', { key: b64('a') }),
  post('/v3/kv/compaction', { revision: '1' }),
  post('/v3/kv/range', { key: b64('a') }),
  post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '3', alarm: 'CORRUPT' }),
  post('/v3/kv/put', { key: b64('a'), value: b64('3') }),
  // Bad input changes nothing and gets etcd's decode errors.
  post('/v3/maintenance/alarm', { action: 'BOGUS' }),
  post('/v3/maintenance/alarm', { alarm: 'FULL' }),
  post('/v3/maintenance/alarm', { memberID: -1 }),
  post('/v3/maintenance/alarm', 'garbage'),
  post('/v3/maintenance/alarm', { action: 'GET' }),
  // Defragment and move-leader answer without a header; a non-member cannot lead.
  post('/v3/maintenance/defragment'),
  post('/v3/maintenance/transfer-leadership', { targetID: '12345' }),
  post('/v3/maintenance/transfer-leadership', { targetID: 'x' }),
  post('/v3/maintenance/hash'),
  { method: 'POST', path: '/health' },
  get('/health'),
]

describe.skipIf(!haveEtcd)('maintenance vs etcd 3.4', () => {
  let etcd: EtcdProcess
  let cluster: TestCluster

  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([
      // etcd's bolt file grows in steps (32 KiB, 64 KiB, … doubling), so its quota bites at a step.
      startEtcd(['--quota-backend-bytes=400000']),
      startTestCluster({ vars: { QUOTA_BACKEND_BYTES: '500000', SNAPSHOT_COUNT: '5' } }),
    ])
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  it('status, alarms and what each alarm lets through answer as etcd does', async () => {
    for (const c of ALARM_SEQUENCE) {
      const [want, got] = [await call(etcd.url, c), await call(cluster.url, c)]
      const label = `${c.method} ${c.path} ${JSON.stringify(c.body ?? '')}`
      expect({ label, ...(comparable(got) as object) }).toEqual({
        label,
        ...(comparable(want) as object),
      })
    }
    // The same history on both: every member's HashKV over the gateway equals etcd's own
    // (etcdctl, over gRPC), once the member has applied everything.
    const theirs = (
      JSON.parse(etcd.etcdctl('endpoint', 'hashkv', '-w', 'json')) as {
        HashKV: { header: { revision: number }; hash: number; compact_revision: number }
      }[]
    )[0]!.HashKV
    for (const m of ['m1', 'm2', 'm3']) {
      let ours: { header: { revision: string }; hash: number; compact_revision: string }
      const deadline = Date.now() + 10_000
      do {
        ours = (await call(cluster.url, post(`/v3/maintenance/hashkv?member=${m}`)))
          .json as typeof ours
        if (Number(ours.header.revision) >= theirs.header.revision) break
        await new Promise((r) => setTimeout(r, 50))
      } while (Date.now() < deadline)
      expect({ m, hash: ours.hash, compact: Number(ours.compact_revision) }).toEqual({
        m,
        hash: theirs.hash,
        compact: theirs.compact_revision,
      })
    }
  })

  it('filling past the quota, then compact + defragment + disarm, answer as etcd does', async () => {
    const value = b64('x'.repeat(16 * 1024))
    const fill = async (url: string): Promise<Answer> => {
      for (let i = 0; i < 300; i++) {
        const r = await call(url, post('/v3/kv/put', { key: b64(`fill/${i}`), value }))
        if (r.status !== 200) return r
      }
      throw new Error(`${url}: the quota never bit`)
    }
    const [want, got] = await Promise.all([fill(etcd.url), fill(cluster.url)])
    expect(comparable(got)).toEqual(comparable(want))

    const alarms = async (url: string) =>
      (
        (await call(url, post('/v3/maintenance/alarm', { action: 'GET' }))).json as {
          alarms: { memberID: string }[]
        }
      ).alarms[0]!.memberID
    const raisedBy = { etcd: await alarms(etcd.url), edge: await alarms(cluster.url) }
    const steps: ((raiser: string, rev: string) => Call)[] = [
      () => post('/v3/maintenance/alarm', { action: 'GET' }),
      () => post('/v3/maintenance/status'),
      () => post('/v3/kv/put', { key: b64('small'), value: b64('v') }),
      () => post('/v3/kv/range', { key: b64('fill/0'), keys_only: true }),
      () => post('/v3/kv/deleterange', { key: b64('fill/'), range_end: b64('fill0') }),
      (_, rev) => post('/v3/kv/compaction', { revision: rev }),
      () => post('/v3/maintenance/defragment'),
      () => post('/v3/kv/put', { key: b64('small'), value: b64('v') }),
      (raiser) =>
        post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: raiser, alarm: 'NOSPACE' }),
      () => post('/v3/maintenance/alarm', { action: 'GET' }),
      () => post('/v3/kv/put', { key: b64('small'), value: b64('v') }),
      () => get('/health'),
    ]
    const revs = { etcd: '0', edge: '0' }
    for (const step of steps) {
      const [e, g] = [
        await call(etcd.url, step(raisedBy.etcd, revs.etcd)),
        await call(cluster.url, step(raisedBy.edge, revs.edge)),
      ]
      const rev = (a: Answer) =>
        (a.json as { header?: { revision?: string } } | undefined)?.header?.revision
      revs.etcd = rev(e) ?? revs.etcd
      revs.edge = rev(g) ?? revs.edge
      const label = step(raisedBy.etcd, '').path
      const strip = (a: Answer) => {
        const c = comparable(a, { revision: false }) as { body?: Record<string, unknown> }
        if (c.body && 'deleted' in c.body) c.body['deleted'] = '<count>'
        if (c.body && 'count' in c.body) c.body['count'] = '<count>'
        return { label, ...c }
      }
      expect(strip(g)).toEqual(strip(e))
    }
  })
})
