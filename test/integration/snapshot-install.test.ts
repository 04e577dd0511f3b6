// A follower that fell behind the leader's compacted raft log is caught up by a snapshot sent
// in chunks (no single call larger than SNAPSHOT_CHUNK_BYTES; DEV_FAULTS makes a member refuse
// one that is), and then holds exactly the same data as the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memberHashes, startTestCluster, type TestCluster } from '../support/cluster.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const CHUNK = 2048

interface DevStatus {
  name: string
  isLeader: boolean
  raftIndex: number
}

interface DevHash {
  hash: number
  revision: number
  appliedIndex: number
  snapshotChunksReceived: number
  snapshotTransfersFailed: number
}

describe('snapshot install', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({
      vars: { DEV_FAULTS: 'true', SNAPSHOT_COUNT: '50', SNAPSHOT_CHUNK_BYTES: String(CHUNK) },
    })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  async function statuses(): Promise<DevStatus[]> {
    return (await cluster.get('/_dev/members')).json as DevStatus[]
  }
  async function hashOf(name: string): Promise<DevHash> {
    return (await cluster.get(`/_dev/members/${name}/hashkv`)).json as DevHash
  }

  it('catches up an isolated follower in many chunks, after which all members agree', async () => {
    const all = await statuses()
    const follower = all.find((s) => !s.isLeader)!.name
    const before = await hashOf(follower)
    await cluster.post(`/_dev/members/${follower}/isolate`)
    try {
      // Far more entries than the leader keeps (SNAPSHOT_COUNT 50, plus 50 for catch-up), some
      // overwritten, some deleted, and the MVCC history compacted too.
      for (let i = 0; i < 400; i++) {
        const r = await cluster.post('/v3/kv/put', {
          key: b64(`snap/${i % 150}`),
          value: b64(`value ${i} ${'v'.repeat(100)}`),
        })
        expect(r.status).toBe(200)
      }
      const del = await cluster.post('/v3/kv/deleterange', {
        key: b64('snap/1'),
        range_end: b64('snap/2'),
      })
      expect(del.status).toBe(200)
      const rev = Number((del.json as { header: { revision: string } }).header.revision)
      const compact = await cluster.post('/v3/kv/compaction', { revision: String(rev - 100) })
      expect(compact.status).toBe(200)
    } finally {
      await cluster.post(`/_dev/members/${follower}/heal`)
    }

    const hashes = await memberHashes(cluster.url, (h) =>
      h.every((x) => x.revision === h[0]!.revision && x.hash === h[0]!.hash),
    )
    expect(new Set(hashes.map((h) => h.revision)).size).toBe(1)
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1)
    const after = await hashOf(follower)
    // The state came as a snapshot in many chunks (the log it missed was compacted away).
    expect(after.snapshotChunksReceived - before.snapshotChunksReceived).toBeGreaterThanOrEqual(20)

    // It serves what was written while it was away, and keeps up with new writes.
    const read = await cluster.post(`/_dev/members/${follower}/kv/range`, {
      key: b64('snap/99'),
      serializable: true,
    })
    expect(read.json).toMatchObject({ kvs: [{ value: b64(`value 399 ${'v'.repeat(100)}`) }] })
    expect((await cluster.post('/v3/kv/put', { key: b64('after'), value: 'AA==' })).status).toBe(
      200,
    )
    const again = await memberHashes(cluster.url, (h) =>
      h.every((x) => x.revision === h[0]!.revision && x.hash === h[0]!.hash),
    )
    expect(new Set(again.map((h) => h.hash)).size).toBe(1)
  })

  it('a transfer that lost a chunk fails as a whole; a fresh one then catches the follower up', async () => {
    const all = await statuses()
    const leader = all.find((s) => s.isLeader)!.name
    const follower = all.find((s) => !s.isLeader)!.name
    const before = await hashOf(follower)
    await cluster.post(`/_dev/members/${follower}/isolate`)
    try {
      for (let i = 0; i < 300; i++) {
        const r = await cluster.post('/v3/kv/put', {
          key: b64(`lost/${i % 50}`),
          value: b64(`value ${i} ${'w'.repeat(100)}`),
        })
        expect(r.status).toBe(200)
      }
      // The next snapshot the leader sends loses its fourth chunk on the way.
      await cluster.post(`/_dev/members/${leader}/dropchunk?value=3`)
    } finally {
      await cluster.post(`/_dev/members/${follower}/heal`)
    }
    const hashes = await memberHashes(cluster.url, (h) =>
      h.every((x) => x.revision === h[0]!.revision && x.hash === h[0]!.hash),
    )
    expect(new Set(hashes.map((h) => h.revision)).size).toBe(1)
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1)
    const after = await hashOf(follower)
    expect(after.snapshotTransfersFailed - before.snapshotTransfersFailed).toBeGreaterThanOrEqual(1)
    expect(after.snapshotChunksReceived - before.snapshotChunksReceived).toBeGreaterThanOrEqual(40)
  })
})
