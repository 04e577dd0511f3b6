// Leases across three member cores in one process (node:sqlite, the real schema, the real
// KvMachine and LeaseTimer), on a virtual clock: every member's local clock is the virtual time
// plus its own, wildly different, offset (hours apart), so nothing may depend on members' wall
// clocks agreeing. Proves that a leader change neither resets nor extends a lease's remaining
// TTL (etcd issue #9395), that a replicated keepalive survives the leader that took it, and
// that expiry removes the keys on every member at one revision.
import { afterEach, describe, expect, it } from 'vitest'
import type { Message } from '../../src/raft/index.ts'
import { KvMachine, type KvReply } from '../../src/member/kv-machine.ts'
import { LeaseTimer } from '../../src/member/lease-timer.ts'
import { MemberCore } from '../../src/member/member-core.ts'
import { applyMigrations } from '../../src/member/migrations.ts'
import { NodeSql } from '../support/node-sql.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const TICK_MS = 100
/** A restored member lags by at most the time since the last lease entry (one checkpoint). */
const CHECKPOINT_MS_BOUND = 1_000 + TICK_MS

interface LeaseMember {
  id: string
  sql: NodeSql
  machine: KvMachine
  core: MemberCore
  leases: LeaseTimer
}

const settle = async (): Promise<void> => {
  for (let j = 0; j < 5; j++) await new Promise((resolve) => setImmediate(resolve))
}

class VirtualCluster {
  readonly members = new Map<string, LeaseMember>()
  readonly isolated = new Set<string>()
  /** Virtual time, ms. Member i's local clock reads nowMs + offsets[i]. */
  nowMs = 0
  private next = 0

  constructor(
    readonly ids: string[],
    private readonly offsets: number[],
    private readonly snapshotCount = 10_000,
  ) {
    for (const id of ids) this.start(id)
  }

  private start(id: string): void {
    const sql = new NodeSql()
    applyMigrations({ sql, transactionSync: (fn) => sql.transactionSync(fn) })
    const offset = this.offsets[this.ids.indexOf(id)]!
    const localNowMs = () => this.nowMs + offset
    const ref: { core?: MemberCore } = {}
    const machine = new KvMachine(sql, {
      clusterId: '1',
      memberId: id,
      raftTerm: () => ref.core?.status().term ?? 0,
      maxTxnOps: 128,
      maxRequestBytes: 1.5 * 1024 * 1024,
      transaction: (fn) => sql.transactionSync(fn),
      minLeaseTtlSeconds: 2,
      localNowMs,
    })
    const core = new MemberCore(
      sql,
      (fn) => sql.transactionSync(fn),
      machine,
      (to, messages) => this.deliver(id, to, messages),
      {
        id,
        initialVoters: this.ids,
        electionTicks: 10,
        snapshotCount: this.snapshotCount,
        requestTimeoutMs: 60_000,
        randomSeed: Number(id) * 7919,
      },
    )
    ref.core = core
    const leases = new LeaseTimer(machine, () => core, localNowMs)
    this.members.set(id, { id, sql, machine, core, leases })
  }

  private async deliver(from: string, to: string, messages: Message[]): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    if (this.isolated.has(from) || this.isolated.has(to)) throw new Error('partitioned')
    this.members.get(to)?.core.receive(messages)
  }

  /** Advances virtual time by `n` ticks; every member ticks raft and its lease timer. */
  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.nowMs += TICK_MS
      for (const m of this.members.values()) {
        m.core.tick()
        if (!this.isolated.has(m.id)) m.leases.tick()
      }
      await settle()
    }
  }

  leader(): LeaseMember | undefined {
    return [...this.members.values()].find((m) => m.core.isLeader && !this.isolated.has(m.id))
  }

  /** Ticks until a leader (not isolated) may serve lease requests. */
  async waitLeaseLeader(): Promise<LeaseMember> {
    for (let i = 0; i < 300; i++) {
      const leader = this.leader()
      if (leader && leader.machine.leaseClock.leaderNow(leader.core.status().term, 0) !== undefined)
        return leader
      await this.tick()
    }
    throw new Error('no leader')
  }

  /** A client write through the leader's lease timer (as Member.writeBatch does). */
  async write(route: 'lease/grant' | 'lease/revoke' | 'put', body: object): Promise<KvReply> {
    const leader = await this.waitLeaseLeader()
    const id = `r${this.next++}`
    const data = leader.leases.entryData(id, route, JSON.stringify(body))
    const pending = leader.core.propose([{ requestId: id, data }])[0]!
    for (;;) {
      const done = await Promise.race([pending.then(() => true), settle().then(() => false)])
      if (done) return (await pending).value as KvReply
      await this.tick()
    }
  }

  async keepAlive(id: string): Promise<unknown> {
    const leader = await this.waitLeaseLeader()
    const pending = leader.leases.keepAlive([id])
    for (;;) {
      const done = await Promise.race([pending.then(() => true), settle().then(() => false)])
      if (done) return JSON.parse((await pending)[0]!)
      await this.tick()
    }
  }

  timeToLive(member: LeaseMember, id: string): { TTL?: string; grantedTTL?: string } {
    return JSON.parse(member.machine.read('lease/timetolive', JSON.stringify({ ID: id })).body)
  }

  count(member: LeaseMember, key: string): number {
    const body = JSON.parse(
      member.machine.read('range', JSON.stringify({ key: b64(key), count_only: true })).body,
    ) as { count?: string }
    return Number(body.count ?? 0)
  }

  /** Ticks until `cond` holds; returns the virtual time it took. */
  async until(cond: () => boolean, maxTicks = 1000): Promise<number> {
    const start = this.nowMs
    for (let i = 0; i < maxTicks && !cond(); i++) await this.tick()
    if (!cond()) throw new Error('condition not reached')
    return this.nowMs - start
  }
}

describe('leases across a leader change (virtual time, skewed member clocks)', () => {
  let cluster: VirtualCluster | undefined
  afterEach(() => {
    for (const m of cluster?.members.values() ?? []) m.sql.close()
    cluster = undefined
  })

  // Member clocks hours apart: lease time must not depend on them agreeing.
  const OFFSETS = [0, 3 * 3_600_000, -7 * 3_600_000]

  it('keeps the remaining TTL when the leader is lost, and expires on time everywhere', async () => {
    cluster = new VirtualCluster(['1', '2', '3'], OFFSETS)
    await cluster.waitLeaseLeader()
    const sentAt = cluster.nowMs
    const grant = JSON.parse((await cluster.write('lease/grant', { ID: '42', TTL: '10' })).body)
    expect(grant.TTL).toBe('10')
    const grantedAt = cluster.nowMs
    expect(
      (await cluster.write('put', { key: b64('svc'), value: b64('x'), lease: '42' })).status,
    ).toBe(200)
    await cluster.tick(40) // 4 s of the lease's 10 s pass

    const old = cluster.leader()!
    cluster.isolated.add(old.id)
    const next = await cluster.waitLeaseLeader()
    expect(next.id).not.toBe(old.id)
    const elapsed = cluster.nowMs - grantedAt
    // etcd would answer 10 here (or more: it also adds an election timeout).
    const ttl = Number(cluster.timeToLive(next, '42').TTL)
    expect(ttl).toBeLessThanOrEqual(Math.ceil((10_000 - elapsed) / 1000))
    expect(ttl).toBeGreaterThanOrEqual(Math.floor((10_000 - elapsed) / 1000) - 1)

    // The new leader expires it 10 s after the grant (+ one tick to notice, + the revoke's
    // commit), on every member that is reachable: not 10 s after the leader change.
    const live = [...cluster.members.values()].filter((m) => !cluster!.isolated.has(m.id))
    await cluster.until(() => live.every((m) => cluster!.count(m, 'svc') === 0))
    // Never before TTL after the grant was sent; at most 3 ticks after it was answered.
    expect(cluster.nowMs - sentAt).toBeGreaterThanOrEqual(10_000)
    expect(cluster.nowMs - grantedAt).toBeLessThanOrEqual(10_000 + 3 * TICK_MS)
    const revisions = live.map((m) => m.machine.currentRevision())
    expect(new Set(revisions).size).toBe(1)

    // The old leader, healed, learns the revoke too.
    cluster.isolated.delete(old.id)
    await cluster.until(() => cluster!.count(old, 'svc') === 0)
  })

  it('a keepalive acknowledged by a leader that is lost right after still counts', async () => {
    cluster = new VirtualCluster(['1', '2', '3'], OFFSETS)
    await cluster.waitLeaseLeader()
    await cluster.write('lease/grant', { ID: '7', TTL: '5' })
    await cluster.write('put', { key: b64('k'), value: b64('v'), lease: '7' })
    await cluster.tick(30)
    const sentAt = cluster.nowMs
    const kept = (await cluster.keepAlive('7')) as { TTL: string }
    expect(kept.TTL).toBe('5')
    const keptAt = cluster.nowMs
    const old = cluster.leader()!
    cluster.isolated.add(old.id)
    const next = await cluster.waitLeaseLeader()
    const live = [...cluster.members.values()].filter((m) => m.id !== old.id)
    await cluster.until(() => live.every((m) => cluster!.count(m, 'k') === 0))
    // Never before keepalive + TTL; at most a few ticks after it.
    expect(cluster.nowMs - sentAt).toBeGreaterThanOrEqual(5_000)
    expect(cluster.nowMs - keptAt).toBeLessThanOrEqual(5_000 + 3 * TICK_MS)
    expect(next.id).not.toBe(old.id)
  })

  it('keepalive answers TTL 0 for an unknown lease and revoke answers 404', async () => {
    cluster = new VirtualCluster(['1', '2', '3'], OFFSETS)
    expect(await cluster.keepAlive('99')).not.toHaveProperty('TTL')
    const revoke = await cluster.write('lease/revoke', { ID: '99' })
    expect(revoke.status).toBe(404)
  })

  it('a member that installs a snapshot gets the leases and the lease clock', async () => {
    cluster = new VirtualCluster(['1', '2', '3'], OFFSETS, 5)
    const leader = await cluster.waitLeaseLeader()
    const lagging = [...cluster.members.values()].find((m) => m.id !== leader.id)!
    cluster.isolated.add(lagging.id)
    for (let i = 0; i < 12; i++) {
      await cluster.write('lease/grant', { ID: String(1000 + i), TTL: String(20 + i) })
      await cluster.write('put', { key: b64(`s${i}`), value: b64('v'), lease: String(1000 + i) })
    }
    expect(leader.core.storage.firstIndex()).toBeGreaterThan(lagging.machine.appliedIndex() + 1)
    cluster.isolated.delete(lagging.id)
    await cluster.until(() => lagging.machine.appliedIndex() >= leader.machine.appliedIndex(), 500)
    expect(lagging.machine.leases.list()).toEqual(leader.machine.leases.list())
    expect(lagging.machine.leases.clock()).not.toBeNull()
    // Its lease clock reads what the leader's does (it learned from the snapshot or later entries).
    const lag =
      leader.machine.leaseClock.now(cluster.nowMs + OFFSETS[Number(leader.id) - 1]!) -
      lagging.machine.leaseClock.now(cluster.nowMs + OFFSETS[Number(lagging.id) - 1]!)
    expect(lag).toBeGreaterThanOrEqual(0)
    expect(lag).toBeLessThanOrEqual(CHECKPOINT_MS_BOUND)
    expect(cluster.count(lagging, 's3')).toBe(1)
  })
})
