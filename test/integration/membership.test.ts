// Membership changes as an operator makes them, through etcd's HTTP API on the real local
// runtime: scale 3 → 5 → 3 under a steady write load (no acknowledged write lost, members agree),
// replace a member (remove + add: a new Durable Object with empty storage catches up), remove
// the leader (leadership moves first), and refuse to promote a learner that is not in sync.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memberHashes, startTestCluster, type TestCluster } from '../support/cluster.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string) => Buffer.from(s, 'base64').toString()

interface Member {
  ID: string
  name?: string
  peerURLs: string[]
  isLearner?: boolean
}

interface DevStatus {
  name: string
  memberId: string
  isLeader: boolean
  raftAppliedIndex: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Writes unique keys from a few concurrent clients until stopped; records what was acknowledged. */
function startLoad(cluster: TestCluster, clients = 3) {
  const acked = new Map<string, string>()
  let failed = 0
  let stopped = false
  let n = 0
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const key = `load/${String(n++).padStart(6, '0')}`
      const r = await cluster.post('/v3/kv/put', { key: b64(key), value: b64(`v-${key}`) })
      if (r.status === 200) acked.set(key, `v-${key}`)
      else failed++
    }
  })
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
    },
  }
}

async function members(cluster: TestCluster): Promise<Member[]> {
  const r = await cluster.post('/v3/cluster/member/list', {})
  expect(r.status).toBe(200)
  return (r.json as { members: Member[] }).members
}

async function add(cluster: TestCluster, peerUrl: string, isLearner: boolean): Promise<Member> {
  const r = await cluster.post('/v3/cluster/member/add', { peerURLs: [peerUrl], isLearner })
  expect(r.status, r.text).toBe(200)
  return (r.json as { member: Member }).member
}

/** etcd's operator loop: promote until the learner is in sync (ErrLearnerNotReady meanwhile). */
async function promoteWhenReady(cluster: TestCluster, id: string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const r = await cluster.post('/v3/cluster/member/promote', { ID: id })
    if (r.status === 200) return
    expect(r.text).toContain('in sync with leader')
    if (Date.now() > deadline) throw new Error(`learner ${id} never got in sync: ${r.text}`)
    await sleep(200)
  }
}

async function remove(cluster: TestCluster, id: string): Promise<void> {
  const r = await cluster.post('/v3/cluster/member/remove', { ID: id })
  expect(r.status, r.text).toBe(200)
}

async function statuses(cluster: TestCluster): Promise<DevStatus[]> {
  return (await cluster.get('/_dev/members')).json as DevStatus[]
}

async function leaderName(cluster: TestCluster): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const leader = (await statuses(cluster)).find((s) => s.isLeader)
    if (leader) return leader.name
    await sleep(100)
  }
  throw new Error('no leader')
}

/** Every acknowledged write is readable with its value (one linearizable range). */
async function expectAllReadable(cluster: TestCluster, acked: Map<string, string>) {
  const r = await cluster.post('/v3/kv/range', { key: b64('load/'), range_end: b64('load0') })
  expect(r.status).toBe(200)
  const kvs = ((r.json as { kvs?: { key: string; value: string }[] }).kvs ?? []).map(
    (kv) => [unb64(kv.key), unb64(kv.value)] as const,
  )
  const stored = new Map(kvs)
  const lost = [...acked].filter(([k, v]) => stored.get(k) !== v)
  expect(lost).toEqual([])
}

async function expectMembersAgree(cluster: TestCluster, names: string[]) {
  const hashes = await memberHashes(
    cluster.url,
    (hs) => hs.every((h) => h.revision === hs[0]!.revision && h.hash === hs[0]!.hash),
    names,
  )
  expect(new Set(hashes.map((h) => `${h.revision}/${h.hash}`)).size).toBe(1)
}

describe('membership changes', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    // A short raft log (SNAPSHOT_COUNT 50): members that join catch up by snapshot + log.
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true', SNAPSHOT_COUNT: '50' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('scales 3 → 5 → 3 under a steady write load without losing an acknowledged write', async () => {
    const load = startLoad(cluster)
    await sleep(500)
    // Out: a learner that is promoted once in sync, then a voter added directly.
    const m4 = await add(cluster, 'http://m4:2380', true)
    expect(m4.isLearner).toBe(true)
    await promoteWhenReady(cluster, m4.ID)
    await sleep(1000)
    const m5 = await add(cluster, 'http://m5:2380', false)
    await sleep(1000)
    let list = await members(cluster)
    expect(list.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5'])
    expect(list.filter((m) => m.isLearner)).toEqual([])

    // In: remove the leader (leadership moves first) and one added member.
    const leader = await leaderName(cluster)
    const leaderId = list.find((m) => m.name === leader)!.ID
    await remove(cluster, leaderId)
    await sleep(1000)
    const other = leader === 'm5' ? m4 : m5
    await remove(cluster, other.ID)
    await sleep(1000)
    await load.stop()

    list = await members(cluster)
    expect(list).toHaveLength(3)
    expect(list.map((m) => m.ID)).not.toContain(leaderId)
    expect(load.acked.size).toBeGreaterThan(50)
    await expectAllReadable(cluster, load.acked)
    await expectMembersAgree(
      cluster,
      list.map((m) => m.name!),
    )
    const live = await statuses(cluster)
    expect(live.map((s) => s.memberId).sort()).toEqual(list.map((m) => m.ID).sort())
    console.log(`scale 3→5→3: ${load.acked.size} writes acknowledged, ${load.failed()} failed`)
  }, 120_000)

  it('replaces a member: the new one starts from empty storage and catches up', async () => {
    // More than SNAPSHOT_COUNT + catch-up entries: the log is compacted, a snapshot is needed.
    for (let i = 0; i < 120; i++) {
      expect(
        (await cluster.post('/v3/kv/put', { key: b64(`r/${i}`), value: b64('x') })).status,
      ).toBe(200)
    }
    const before = await members(cluster)
    const victim = before[0]!
    await remove(cluster, victim.ID)
    // The same peer URL again: a new member (new ID, new Durable Object, empty storage).
    const again = await add(cluster, victim.peerURLs[0]!, true)
    expect(again.ID).not.toBe(victim.ID)
    await promoteWhenReady(cluster, again.ID)
    const after = await members(cluster)
    expect(after).toHaveLength(3)
    await expectMembersAgree(
      cluster,
      after.map((m) => m.name!),
    )
    // Update changes the peer URLs only: the member keeps its ID and its Durable Object.
    const moved = await cluster.post('/v3/cluster/member/update', {
      ID: again.ID,
      peerURLs: ['http://moved:2380'],
    })
    expect(moved.status, moved.text).toBe(200)
    const updated = (moved.json as { members: Member[] }).members.find((m) => m.ID === again.ID)
    expect(updated?.peerURLs).toEqual(['http://moved:2380'])
    expect((await cluster.post('/v3/kv/put', { key: b64('r/x'), value: b64('y') })).status).toBe(
      200,
    )
    await cluster.post('/v3/kv/deleterange', { key: b64('r/x') })
    const r = await cluster.post('/v3/kv/range', {
      key: b64('r/'),
      range_end: b64('r0'),
      count_only: true,
    })
    expect((r.json as { count?: string }).count).toBe('120')
  }, 120_000)

  it('refuses to promote a learner that is not in sync with the leader', async () => {
    const learner = await add(cluster, 'http://slow:2380', true)
    // Let it join, then cut it off and move the log on by more than 10 %.
    await sleep(1000)
    await cluster.post(`/_dev/members/slow/isolate`)
    const applied = Math.max(...(await statuses(cluster)).map((s) => s.raftAppliedIndex))
    for (let i = 0; i < Math.ceil(applied * 0.2) + 5; i++) {
      await cluster.post('/v3/kv/put', { key: b64(`s/${i}`), value: b64('x') })
    }
    const r = await cluster.post('/v3/cluster/member/promote', { ID: learner.ID })
    expect(r.status).toBe(412)
    expect(r.json).toEqual({
      error: 'etcdserver: can only promote a learner member which is in sync with leader',
      message: 'etcdserver: can only promote a learner member which is in sync with leader',
      code: 9,
    })
    // A second learner is one too many (etcd 3.4 allows one).
    const second = await cluster.post('/v3/cluster/member/add', {
      peerURLs: ['http://other:2380'],
      isLearner: true,
    })
    expect(second.status).toBe(412)
    expect(second.text).toContain('too many learner members')
    await cluster.post(`/_dev/members/slow/heal`)
    await remove(cluster, learner.ID)
    expect((await members(cluster)).map((m) => m.ID)).not.toContain(learner.ID)
  }, 60_000)

  it('refuses changes that would cost the quorum while a voter is down', async () => {
    const list = await members(cluster)
    const leader = await leaderName(cluster)
    const [down, up] = list.filter((m) => m.name !== leader)
    await cluster.post(`/_dev/members/${down!.name}/isolate`)
    try {
      // etcd's HealthInterval: a peer silent for 5 s counts as down.
      await sleep(5_500)
      const voter = await cluster.post('/v3/cluster/member/add', { peerURLs: ['http://v:2380'] })
      expect(voter.status).toBe(412)
      expect(voter.text).toContain('not enough started members')
      const learner = await cluster.post('/v3/cluster/member/add', {
        peerURLs: ['http://l:2380'],
        isLearner: true,
      })
      expect(learner.status).toBe(503)
      expect(learner.text).toContain('unhealthy cluster')
      // Removing the live follower would leave one started voter of two.
      const live = await cluster.post('/v3/cluster/member/remove', { ID: up!.ID })
      expect(live.status).toBe(412)
      expect(live.text).toContain('not enough started members')
      expect(await members(cluster)).toHaveLength(3)
    } finally {
      await cluster.post(`/_dev/members/${down!.name}/heal`)
    }
  }, 60_000)
})

describe('a cluster whose initial members were all replaced', () => {
  it('retires removed members, and a cold front door finds the new members through them', async () => {
    const persistDir = mkdtempSync(join(tmpdir(), 'edge-etcd-replaced-'))
    let cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' }, persistDir })
    try {
      await cluster.waitHealthy()
      expect((await cluster.post('/v3/kv/put', { key: b64('keep'), value: b64('1') })).status).toBe(
        200,
      )
      const initial = await members(cluster)
      for (const name of ['n1', 'n2', 'n3']) {
        const m = await add(cluster, `http://${name}:2380`, true)
        await promoteWhenReady(cluster, m.ID)
      }
      for (const m of initial) await remove(cluster, m.ID)
      expect((await members(cluster)).map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3'])
      // Every removed member stopped for good and keeps only a forwarding address.
      for (const m of initial) {
        const deadline = Date.now() + 10_000
        for (;;) {
          const d = (await cluster.get(`/_dev/objects/describe?name=default/${m.name}`)).json as {
            state: string
            members?: Member[]
          }
          if (d.state === 'retired') {
            expect(d.members?.length).toBeGreaterThan(0)
            break
          }
          if (Date.now() > deadline) throw new Error(`${m.name} did not retire: ${d.state}`)
          await sleep(100)
        }
      }
      // A new runtime (cold front door, INITIAL_CLUSTER still says m1,m2,m3) finds n1..n3.
      await cluster.stop()
      cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' }, persistDir })
      await cluster.waitHealthy()
      const r = await cluster.post('/v3/kv/range', { key: b64('keep') })
      expect(r.json).toMatchObject({ kvs: [{ value: b64('1') }] })
      expect((await members(cluster)).map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3'])
      await expectMembersAgree(cluster, ['n1', 'n2', 'n3'])
    } finally {
      await cluster.destroy()
      rmSync(persistDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('a member removed while it was unreachable', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('retires by itself once it can ask its peers', async () => {
    const leader = await leaderName(cluster)
    const victim = (await members(cluster)).find((m) => m.name !== leader)!
    // Cut off, it misses its removal and the leader's word about it.
    await cluster.post(`/_dev/members/${victim.name}/isolate`)
    await remove(cluster, victim.ID)
    expect((await cluster.post('/v3/kv/put', { key: b64('x'), value: b64('1') })).status).toBe(200)
    await cluster.post(`/_dev/members/${victim.name}/heal`)
    // Healed, it hears from no leader (it is not in the configuration any more); after ten
    // election timeouts it asks its peers, learns it was removed, and retires.
    const deadline = Date.now() + 40_000
    for (;;) {
      const d = (await cluster.get(`/_dev/objects/describe?name=default/${victim.name}`)).json as {
        state: string
      }
      if (d.state === 'retired') break
      if (Date.now() > deadline) throw new Error(`${victim.name} still ${d.state}`)
      await sleep(500)
    }
    expect(await members(cluster)).toHaveLength(2)
    expect((await cluster.post('/v3/kv/put', { key: b64('y'), value: b64('1') })).status).toBe(200)
  }, 60_000)
})
