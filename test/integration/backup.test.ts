// Backup, restore and disaster recovery as an operator runs them against the real local runtime:
// - snapshot save on a loaded cluster, restore into a NEW cluster (new name, new members):
//   HashKV of the restored store equals the source's at the snapshot revision, and revisions go on;
// - a restore is refused by a cluster that holds data, and a corrupted file is refused;
// - quorum permanently lost (two of three members' storage destroyed): FORCE_NEW_CLUSTER on the
//   survivor rebuilds a working cluster from its data, which then grows again by member add.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import {
  checkSnapshot,
  describeSnapshot,
  restoreSnapshot,
  saveSnapshot,
} from '../../scripts/snapshot.mjs'
import { memberHashes, startTestCluster, type TestCluster } from '../support/cluster.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface HashKv {
  hash: number
  revision: number
}

async function hashAt(cluster: TestCluster, member: string, revision: number): Promise<HashKv> {
  return (await cluster.get(`/_dev/members/${member}/hashkv?revision=${revision}`)).json as HashKv
}

const clusters: TestCluster[] = []
afterAll(async () => {
  for (const c of clusters) await c.destroy()
})

async function start(vars: Record<string, string>, persistDir?: string): Promise<TestCluster> {
  const cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true', ...vars }, persistDir })
  clusters.push(cluster)
  await cluster.waitHealthy()
  return cluster
}

describe('snapshot save and restore', () => {
  it('restores a snapshot of a loaded cluster into a new cluster with the same HashKV', async () => {
    const source = await start({ CLUSTER_NAME: 'source' })
    for (let i = 0; i < 60; i++) {
      const key = b64(`k/${i % 20}`)
      expect((await source.post('/v3/kv/put', { key, value: b64(`v${i}`) })).status).toBe(200)
    }
    // Big values: the file is several MB, more than one Durable Object SQLite row (2 MB) holds,
    // so the restore must travel in chunks.
    const big = b64('b'.repeat(200 * 1024))
    for (let i = 0; i < 20; i++) {
      expect((await source.post('/v3/kv/put', { key: b64(`big/${i}`), value: big })).status).toBe(
        200,
      )
    }
    await source.post('/v3/kv/deleterange', { key: b64('k/3') })
    await source.post('/v3/kv/compaction', { revision: '10' })
    // Writes keep going while the snapshot is taken.
    let writing = true
    const load = (async () => {
      for (let i = 0; writing; i++) {
        await source.post('/v3/kv/put', { key: b64(`during/${i}`), value: b64('x') })
      }
    })()
    await sleep(200)
    const file = await saveSnapshot(source.url)
    writing = false
    await load
    const info = describeSnapshot(file)
    expect(info.revision).toBeGreaterThan(81)
    expect(file.length).toBeGreaterThan(4 * 1024 * 1024)
    const sourceHash = await hashAt(source, 'm1', info.revision)

    const target = await start({ CLUSTER_NAME: 'restored' })
    const restored = await restoreSnapshot(target.url, file)
    expect(restored.restored).toBe(true)
    const hashes = await memberHashes(target.url, (hs) =>
      hs.every((h) => h.revision === info.revision),
    )
    const pick = (h: HashKv) => ({ hash: h.hash, revision: h.revision })
    for (const h of hashes) expect(pick(h)).toEqual(pick(sourceHash))
    // Data, revisions and the compaction point came back; the new cluster has its own identity.
    const r = await target.post('/v3/kv/range', { key: b64('k/1') })
    expect(r.json).toMatchObject({ kvs: [{ value: b64('v41') }] })
    expect((await target.post('/v3/kv/range', { key: b64('k/1'), revision: '5' })).status).toBe(400)
    const put = await target.post('/v3/kv/put', { key: b64('after'), value: b64('1') })
    expect((put.json as { header: { revision: string } }).header.revision).toBe(
      String(info.revision + 1),
    )
    const ids = async (c: TestCluster) =>
      ((await c.post('/v3/cluster/member/list', {})).json as { members: { ID: string }[] }).members
        .map((m) => m.ID)
        .sort()
    expect(await ids(target)).not.toEqual(await ids(source))

    // A cluster that holds data refuses a restore; a corrupted file is refused before anything.
    await expect(restoreSnapshot(target.url, file)).rejects.toThrow(/already holds data/)
    const corrupt = Buffer.from(file)
    corrupt[10] = corrupt[10]! ^ 1
    expect(() => checkSnapshot(corrupt)).toThrow(/integrity check failed/)
    const refused = await fetch(`${target.url}/_admin/restore`, { method: 'POST', body: corrupt })
    expect(refused.status).toBe(500)
    expect(await refused.json()).toMatchObject({ code: 15 })
  }, 120_000)
})

/** The member name stored in each Durable Object SQLite file of a stopped runtime. */
function memberFiles(persistDir: string): Map<string, string> {
  const dir = join(persistDir, 'do', 'edge-etcd-Member')
  const files = new Map<string, string>()
  for (const f of readdirSync(dir).filter(
    (n) => n.endsWith('.sqlite') && n !== 'metadata.sqlite',
  )) {
    const db = new DatabaseSync(join(dir, f))
    try {
      const row = db.prepare('SELECT member_name FROM member_identity WHERE id = 1').get() as
        { member_name: string } | undefined
      if (row) files.set(row.member_name, join(dir, f))
    } finally {
      db.close()
    }
  }
  return files
}

describe('disaster recovery', () => {
  it('rebuilds a working cluster from the one surviving member (FORCE_NEW_CLUSTER)', async () => {
    const persistDir = mkdtempSync(join(tmpdir(), 'edge-etcd-dr-'))
    try {
      const before = await start({}, persistDir)
      for (let i = 0; i < 40; i++) {
        expect(
          (await before.post('/v3/kv/put', { key: b64(`d/${i}`), value: b64('x') })).status,
        ).toBe(200)
      }
      // Every member has applied every write before the disaster.
      await memberHashes(before.url, (hs) => hs.every((h) => h.revision === 41))
      await before.stop()

      // The disaster: m2 and m3 are gone for good, storage and all.
      const files = memberFiles(persistDir)
      for (const name of ['m2', 'm3']) {
        const file = files.get(name)!
        for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
      }

      const after = await start({ FORCE_NEW_CLUSTER: 'm1' }, persistDir)
      const list = (await after.post('/v3/cluster/member/list', {})).json as {
        members: { ID: string; name: string }[]
      }
      expect(list.members.map((m) => m.name)).toEqual(['m1'])
      const count = await after.post('/v3/kv/range', {
        key: b64('d/'),
        range_end: b64('d0'),
        count_only: true,
      })
      expect((count.json as { count: string }).count).toBe('40')
      expect((await after.post('/v3/kv/put', { key: b64('new'), value: b64('1') })).status).toBe(
        200,
      )

      // The cluster grows again: a new member joins from empty storage and catches up.
      const added = await after.post('/v3/cluster/member/add', {
        peerURLs: ['http://n2:2380'],
        isLearner: true,
      })
      expect(added.status, added.text).toBe(200)
      const id = (added.json as { member: { ID: string } }).member.ID
      for (let i = 0; ; i++) {
        const p = await after.post('/v3/cluster/member/promote', { ID: id })
        if (p.status === 200) break
        if (i > 100) throw new Error(p.text)
        await sleep(200)
      }
      const hashes = await memberHashes(
        after.url,
        (hs) => hs.every((h) => h.revision === hs[0]!.revision && h.hash === hs[0]!.hash),
        ['m1', 'n2'],
      )
      expect([hashes[0]!.hash, hashes[0]!.revision]).toEqual([hashes[1]!.hash, hashes[1]!.revision])
      expect((await after.post('/v3/kv/put', { key: b64('two'), value: b64('1') })).status).toBe(
        200,
      )
    } finally {
      rmSync(persistDir, { recursive: true, force: true })
    }
  }, 120_000)
})
