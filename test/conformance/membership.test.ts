// etcd's Cluster service, differentially: the same member list/add/remove/update/promote
// requests against real etcd 3.4 (one member) and the local edge-etcd cluster (three members).
// Compared: HTTP status, error bodies byte for byte, and the shape of every answer (field names,
// learner flags, peer URLs as given). Ignored, as they legitimately differ: IDs, the number of
// members, the members' own names/URLs, and client URLs. Known difference: an added member of
// edge-etcd is started at once (its Durable Object), so it is listed with its name and client
// URL, where etcd lists an unstarted member without them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpTarget, requireEtcd, startEtcd, type EtcdProcess, type KvTarget } from './etcd.ts'

const haveEtcd = requireEtcd()
const b64 = (s: string) => Buffer.from(s).toString('base64')
const LEARNER_URL = 'http://127.0.0.1:29999'

interface Member {
  ID: string
  name?: string
  peerURLs?: string[]
  clientURLs?: string[]
  isLearner?: boolean
}

/** An answer with what legitimately differs replaced by placeholders. */
function shape(status: number, json: unknown): unknown {
  if (json === null || typeof json !== 'object') return { status, json }
  const o = { ...(json as Record<string, unknown>) }
  if (o.header) o.header = Object.keys(o.header as object).sort()
  const member = (m: Member) => {
    const out: Record<string, unknown> = { ...m, ID: '<id>' }
    const learner = m.peerURLs?.includes(LEARNER_URL)
    // Only the learner's entry is compared in full; the others differ by nature.
    if (!learner) return '<member>'
    delete out.name
    delete out.clientURLs
    return out
  }
  if (o.member) o.member = member(o.member as Member)
  if (Array.isArray(o.members)) {
    o.members = [...new Set((o.members as Member[]).map(member).map((m) => JSON.stringify(m)))]
      .sort()
      .map((m) => JSON.parse(m) as unknown)
  }
  return { status, json: o }
}

describe.skipIf(!haveEtcd)('the Cluster service agrees with etcd 3.4', () => {
  let etcd: EtcdProcess
  let cluster: TestCluster
  let edge: KvTarget
  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([
      startEtcd(),
      startTestCluster({ vars: { DEV_FAULTS: 'true' } }),
    ])
    await cluster.waitHealthy()
    edge = httpTarget('edge-etcd', cluster.url)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  /** Sends one request to both; returns both answers (raw) after checking their shapes agree. */
  async function both(path: string, body: (t: 'etcd' | 'edge') => object) {
    const [e, o] = await Promise.all([
      etcd.target.post(path, body('etcd')),
      edge.post(path, body('edge')),
    ])
    expect(shape(o.status, o.json), `${path} ${o.text}`).toEqual(shape(e.status, e.json))
    if (e.status !== 200) expect(o.text).toBe(e.text)
    return { etcd: e, edge: o }
  }

  /** The ID of the member that answers a write (the leader). */
  async function leaderId(t: KvTarget): Promise<string> {
    const r = await t.post('/v3/kv/put', { key: b64('who'), value: b64('leader') })
    return (r.json as { header: { member_id: string } }).header.member_id
  }

  it('lists, adds a learner, refuses what etcd refuses, promotes only in sync, removes', async () => {
    await both('/v3/cluster/member/list', () => ({}))
    const added = await both('/v3/cluster/member/add', () => ({
      peerURLs: [LEARNER_URL],
      isLearner: true,
    }))
    const learner = {
      etcd: (added.etcd.json as { member: Member }).member.ID,
      edge: (added.edge.json as { member: Member }).member.ID,
    }
    // Our learner is a live Durable Object that catches up at once; etcd's never started.
    // Cut ours off and move the log on, so both are out of sync.
    // (The new member starts within moments of the add; until then it cannot be isolated.)
    for (let i = 0; (await cluster.post('/_dev/members/127.0.0.1/isolate')).status !== 200; i++) {
      if (i > 100) throw new Error('the learner never started')
      await new Promise((r) => setTimeout(r, 100))
    }
    for (let i = 0; i < 30; i++) {
      await edge.post('/v3/kv/put', { key: b64(`lag/${i}`), value: b64('x') })
    }
    await both('/v3/cluster/member/promote', (t) => ({ ID: learner[t] }))

    // Refusals, in etcd's order of checks. (Not the very same URLs again: etcd 3.4 answers
    // "member ID already exist" or "Peer URLs already exists" depending on whether the second
    // add falls in the same second as the first, its ID hashing URLs and time.)
    await both('/v3/cluster/member/add', () => ({
      peerURLs: ['http://127.0.0.1:29998', LEARNER_URL],
      isLearner: true,
    }))
    await both('/v3/cluster/member/add', () => ({
      peerURLs: ['http://127.0.0.1:29997'],
      isLearner: true,
    }))
    await both('/v3/cluster/member/add', () => ({ peerURLs: ['127.0.0.1:29997'] }))
    await both('/v3/cluster/member/add', () => ({ peerURLs: ['http://127.0.0.1:29997/path'] }))
    await both('/v3/cluster/member/add', () => ({}))
    await both('/v3/cluster/member/promote', () => ({ ID: '1' }))
    const leaders = { etcd: await leaderId(etcd.target), edge: await leaderId(edge) }
    await both('/v3/cluster/member/promote', (t) => ({ ID: leaders[t] }))
    await both('/v3/cluster/member/remove', () => ({ ID: '12345' }))
    await both('/v3/cluster/member/remove', () => ({}))
    await both('/v3/cluster/member/update', () => ({
      ID: '12345',
      peerURLs: ['http://127.0.0.1:29996'],
    }))

    await cluster.post('/_dev/members/127.0.0.1/heal')
    await both('/v3/cluster/member/remove', (t) => ({ ID: learner[t] }))
    const after = await both('/v3/cluster/member/list', () => ({}))
    const ids = (after.edge.json as { members: Member[] }).members.map((m) => m.ID)
    expect(ids).not.toContain(learner.edge)
  }, 60_000)
})
