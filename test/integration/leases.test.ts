// Leases on the running local cluster (workerd, three member Durable Objects), as an etcd
// client sees them: keys of an expired lease disappear within TTL + one election timeout on
// every member (each asked alone, serializable), watchers see their deletes at one revision,
// keepalives hold a lease, and a leader change neither resets nor extends the remaining TTL
// (etcd resets it: issue #9395).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpWatch } from '../support/watch-client.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const MEMBERS = ['m1', 'm2', 'm3']
const ELECTION_TIMEOUT_MS = 1000

interface DevStatus {
  name: string
  isLeader: boolean
}

async function leaderOf(cluster: TestCluster, not?: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const all = (await cluster.get('/_dev/members')).json as DevStatus[]
    const leader = all.find((s) => s.isLeader && s.name !== not)
    if (leader) return leader.name
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('no leader')
}

/** How many keys in [key, end) member `name` holds, asked of it alone (serializable). */
async function countOn(cluster: TestCluster, name: string, key: string, end: string) {
  const r = await cluster.post(`/_dev/members/${name}/kv/range`, {
    key: b64(key),
    range_end: b64(end),
    serializable: true,
    count_only: true,
  })
  expect(r.status).toBe(200)
  return Number((r.json as { count?: string }).count ?? 0)
}

/** Polls until every member in `names` holds no key in [key, end); returns when each did. */
async function goneEverywhere(
  cluster: TestCluster,
  names: string[],
  key: string,
  end: string,
  timeoutMs: number,
): Promise<Map<string, number>> {
  const gone = new Map<string, number>()
  const deadline = Date.now() + timeoutMs
  while (gone.size < names.length && Date.now() < deadline) {
    await Promise.all(
      names
        .filter((n) => !gone.has(n))
        .map(async (n) => {
          if ((await countOn(cluster, n, key, end)) === 0) gone.set(n, Date.now())
        }),
    )
    await new Promise((r) => setTimeout(r, 25))
  }
  return gone
}

async function grant(cluster: TestCluster, ttl: number, id?: string): Promise<string> {
  const r = await cluster.post('/v3/lease/grant', id ? { TTL: String(ttl), ID: id } : { TTL: ttl })
  expect(r.status).toBe(200)
  return (r.json as { ID: string }).ID
}

describe('leases on the local cluster', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('expire: keys vanish on every member within TTL + one election timeout, in one revision', async () => {
    const watch = await httpWatch(cluster.url, [
      { create_request: { key: b64('svc/'), range_end: b64('svc0') } },
    ])
    await watch.until((r) => r.some((x) => x.created))
    const sentAt = Date.now()
    const id = await grant(cluster, 2)
    const grantedAt = Date.now()
    for (const k of ['svc/a', 'svc/b', 'svc/c']) {
      const put = await cluster.post('/v3/kv/put', { key: b64(k), value: b64('up'), lease: id })
      expect(put.status).toBe(200)
    }
    const gone = await goneEverywhere(cluster, MEMBERS, 'svc/', 'svc0', 10_000)
    expect([...gone.keys()].sort()).toEqual(MEMBERS)
    for (const [name, at] of gone) {
      // Never before the TTL ran out (counted from when the grant was sent) ...
      expect(at - sentAt, name).toBeGreaterThanOrEqual(2000)
      // ... and at most one election timeout after it (counted from the grant's answer).
      expect(at - grantedAt, name).toBeLessThanOrEqual(2000 + ELECTION_TIMEOUT_MS)
    }
    // Watchers see the three deletes, all at one revision.
    const results = await watch.until(
      (r) => r.flatMap((x) => x.events ?? []).filter((e) => e.type === 'DELETE').length === 3,
    )
    watch.close()
    const deletes = results.flatMap((x) => x.events ?? []).filter((e) => e.type === 'DELETE')
    expect(new Set(deletes.map((e) => e.kv.mod_revision)).size).toBe(1)
    expect(deletes.map((e) => Buffer.from(e.kv.key, 'base64').toString())).toEqual([
      'svc/a',
      'svc/b',
      'svc/c',
    ])
    const ttl = await cluster.post('/v3/lease/timetolive', { ID: id })
    expect(ttl.json).toMatchObject({ ID: id, TTL: '-1' })
  })

  it('keepalive: a lease kept alive outlives its TTL, then expires after the last one', async () => {
    const id = await grant(cluster, 2)
    await cluster.post('/v3/kv/put', { key: b64('ka/k'), value: b64('v'), lease: id })
    let lastKeepAlive = 0
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${cluster.url}/v3/lease/keepalive`, {
        method: 'POST',
        body: JSON.stringify({ ID: id }),
      })
      const line = JSON.parse((await r.text()).trim()) as { result: { TTL?: string } }
      expect(line.result.TTL).toBe('2')
      lastKeepAlive = Date.now()
      await new Promise((r) => setTimeout(r, 500))
    }
    // 4 s after the grant, a 2 s lease is still there on every member.
    for (const m of MEMBERS) expect(await countOn(cluster, m, 'ka/', 'ka0')).toBe(1)
    const gone = await goneEverywhere(cluster, MEMBERS, 'ka/', 'ka0', 10_000)
    expect(gone.size).toBe(3)
    for (const at of gone.values()) {
      expect(at - lastKeepAlive).toBeGreaterThanOrEqual(2000 - 500)
      expect(at - lastKeepAlive).toBeLessThanOrEqual(2000 + ELECTION_TIMEOUT_MS)
    }
  })

  it('leader change: the remaining TTL carries over (etcd would reset it to the full TTL)', async () => {
    const TTL_S = 10
    const sentAt = Date.now()
    const id = await grant(cluster, TTL_S, '4242')
    const grantedAt = Date.now()
    expect(id).toBe('4242')
    await cluster.post('/v3/kv/put', { key: b64('lc/k'), value: b64('v'), lease: id })
    await new Promise((r) => setTimeout(r, 4000))

    const oldLeader = await leaderOf(cluster)
    await cluster.post(`/_dev/members/${oldLeader}/isolate`)
    try {
      const newLeader = await leaderOf(cluster, oldLeader)
      expect(newLeader).not.toBe(oldLeader)
      const live = MEMBERS.filter((m) => m !== oldLeader)
      const r = await cluster.post('/v3/lease/timetolive', { ID: id })
      const askedAt = Date.now()
      expect(r.status).toBe(200)
      const ttl = Number((r.json as { TTL: string }).TTL)
      const granted = Number((r.json as { grantedTTL: string }).grantedTTL)
      expect(granted).toBe(TTL_S)
      // The bound (docs/leases.md): remaining <= TTL - time since the grant's answer + 1 s of
      // slack for the change. etcd answers TTL (10) or more here: the lease was reset.
      expect(ttl).toBeLessThanOrEqual(Math.ceil((TTL_S * 1000 - (askedAt - grantedAt)) / 1000) + 1)
      expect(ttl).toBeLessThan(TTL_S - 2)
      // Never early: still there until TTL after the grant was sent.
      const gone = await goneEverywhere(cluster, live, 'lc/', 'lc0', 20_000)
      expect([...gone.keys()].sort()).toEqual(live.sort())
      for (const at of gone.values()) {
        expect(at - sentAt).toBeGreaterThanOrEqual(TTL_S * 1000)
        expect(at - grantedAt).toBeLessThanOrEqual(TTL_S * 1000 + ELECTION_TIMEOUT_MS)
      }
    } finally {
      await cluster.post(`/_dev/members/${oldLeader}/heal`)
    }
    // The old leader, healed, catches up with the revoke.
    const healed = await goneEverywhere(cluster, [oldLeader], 'lc/', 'lc0', 20_000)
    expect(healed.size).toBe(1)
  })
})
