// The cluster as an etcd client sees it through the front door: etcd's KV API served by real
// Member Durable Objects (raft over SQLite), surviving a leader's isolation, a member crash and
// a restart of the whole runtime, with no acknowledged write lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

interface DevStatus {
  name: string
  memberId: string
  isLeader: boolean
  raftAppliedIndex: number
  revision: number
}

async function statuses(cluster: TestCluster): Promise<DevStatus[]> {
  return (await cluster.get('/_dev/members')).json as DevStatus[]
}

async function leaderName(cluster: TestCluster): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const leader = (await statuses(cluster)).find((s) => s.isLeader)
    if (leader) return leader.name
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('no leader')
}

/** Waits until every member has applied the same index and reached `revision`. */
async function converged(cluster: TestCluster, revision: number): Promise<DevStatus[]> {
  for (let i = 0; i < 100; i++) {
    const all = await statuses(cluster)
    if (all.length === 3 && all.every((s) => s.revision === revision)) return all
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(
    `members did not converge at revision ${revision}: ${JSON.stringify(await statuses(cluster))}`,
  )
}

async function get(cluster: TestCluster, key: string, serializable = false) {
  const r = await cluster.post('/v3/kv/range', { key: b64(key), serializable })
  expect(r.status).toBe(200)
  return r.json as {
    header: { revision: string }
    kvs?: { key: string; value: string; version: string }[]
    count?: string
  }
}

describe('KV through the front door', () => {
  let cluster: TestCluster
  const persistDir = `${process.env.TMPDIR ?? '/tmp'}/edge-etcd-kv-${process.pid}`
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' }, persistDir })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
    const { rmSync } = await import('node:fs')
    rmSync(persistDir, { recursive: true, force: true })
  })

  it('puts, reads (linearizable and serializable), deletes and runs txns in etcd shape', async () => {
    const put = await cluster.post('/v3/kv/put', { key: b64('foo'), value: b64('bar') })
    expect(put.status).toBe(200)
    const header = (put.json as { header: Record<string, string> }).header
    expect(Object.keys(header)).toEqual(['cluster_id', 'member_id', 'revision', 'raft_term'])
    expect(header.revision).toBe('2')

    for (const serializable of [false, true]) {
      const r = await get(cluster, 'foo', serializable)
      expect(r.kvs?.[0]).toMatchObject({ key: b64('foo'), value: b64('bar'), version: '1' })
    }

    const txn = await cluster.post('/v3/kv/txn', {
      compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('bar') }],
      success: [{ request_put: { key: b64('foo'), value: b64('baz'), prev_kv: true } }],
    })
    expect(txn.status).toBe(200)
    expect(txn.json).toMatchObject({ succeeded: true, header: { revision: '3' } })

    const del = await cluster.post('/v3/kv/deleterange', { key: b64('foo'), prev_kv: true })
    expect(del.json).toMatchObject({ deleted: '1', prev_kvs: [{ value: b64('baz') }] })
    expect((await get(cluster, 'foo')).kvs).toBeUndefined()
  })

  it('answers bad input with etcd errors and changes nothing', async () => {
    const before = (await get(cluster, 'x')).header.revision
    const cases: [unknown, number, string][] = [
      [{ key: '', value: b64('v') }, 400, 'etcdserver: key is not provided'],
      ['{"key":', 400, 'unexpected EOF'],
      [{ key: '!!!', value: b64('v') }, 400, 'illegal base64 data at input byte 0'],
    ]
    for (const [body, status, message] of cases) {
      const r = await cluster.post('/v3/kv/put', body)
      expect(r.status).toBe(status)
      expect(r.json).toMatchObject({ error: message, message })
    }
    const compacted = await cluster.post('/v3/kv/range', { key: b64('x'), revision: '999999' })
    expect(compacted.status).toBe(400)
    expect(compacted.json).toEqual({
      error: 'etcdserver: mvcc: required revision is a future revision',
      message: 'etcdserver: mvcc: required revision is a future revision',
      code: 11,
    })
    expect((await get(cluster, 'x')).header.revision).toBe(before)
  })

  it('keeps serving writes when the leader is isolated, and the old leader catches up', async () => {
    const leader = await leaderName(cluster)
    await cluster.post(`/_dev/members/${leader}/isolate`)
    try {
      for (let i = 0; i < 5; i++) {
        const r = await cluster.post('/v3/kv/put', { key: b64(`during-${i}`), value: b64(`${i}`) })
        expect(r.status).toBe(200)
      }
      expect(await leaderName(cluster)).not.toBe(leader)
    } finally {
      await cluster.post(`/_dev/members/${leader}/heal`)
    }
    const revision = Number((await get(cluster, 'x')).header.revision)
    await converged(cluster, revision)
  })

  it('restarts a crashed member from its storage', async () => {
    const victim = (await statuses(cluster)).find((s) => !s.isLeader)!.name
    const put = await cluster.post('/v3/kv/put', { key: b64('before-crash'), value: b64('1') })
    expect(put.status).toBe(200)
    await cluster.post(`/_dev/members/${victim}/crash`)
    const after = await cluster.post('/v3/kv/put', { key: b64('after-crash'), value: b64('2') })
    expect(after.status).toBe(200)
    const revision = Number((after.json as { header: { revision: string } }).header.revision)
    await converged(cluster, revision)
  })

  it('loses no acknowledged write when the whole runtime stops and starts again', async () => {
    const acknowledged: string[] = []
    for (let i = 0; i < 10; i++) {
      const r = await cluster.post('/v3/kv/put', { key: b64(`durable-${i}`), value: b64(`${i}`) })
      if (r.status === 200) acknowledged.push(`durable-${i}`)
    }
    expect(acknowledged).toHaveLength(10)
    await cluster.stop()
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' }, persistDir })
    await cluster.waitHealthy()
    for (const key of acknowledged) {
      const r = await get(cluster, key)
      expect(r.kvs?.[0]?.key).toBe(b64(key))
    }
  })
})
