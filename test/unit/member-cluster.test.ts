// The member shell without the platform: three MemberCores over real SQLite (node:sqlite, the
// same schema and code as in the Durable Object), wired by an in-process transport that can
// drop a member's traffic. Proves the Ready loop, SQL raft storage, KV apply, request-id
// deduplication, snapshot install and restart from storage.
import { afterEach, describe, expect, it } from 'vitest'
import type { Message } from '../../src/raft/index.ts'
import { KvMachine, type KvReply } from '../../src/member/kv-machine.ts'
import { MemberCore } from '../../src/member/member-core.ts'
import { applyMigrations } from '../../src/member/migrations.ts'
import { NodeSql } from '../support/node-sql.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

interface TestMember {
  id: string
  sql: NodeSql
  machine: KvMachine
  core: MemberCore
}

class InProcessCluster {
  readonly members = new Map<string, TestMember>()
  readonly isolated = new Set<string>()
  private nextRequest = 0

  constructor(
    readonly ids: string[],
    private readonly snapshotCount = 10_000,
  ) {
    for (const id of ids) this.start(id, new NodeSql())
  }

  /** (Re)starts a member over `sql`, as a Durable Object does after eviction. */
  start(id: string, sql: NodeSql): TestMember {
    applyMigrations({ sql, transactionSync: (fn) => sql.transactionSync(fn) })
    let term = 0
    const machine = new KvMachine(sql, {
      clusterId: '1',
      memberId: id,
      raftTerm: () => term,
      maxTxnOps: 128,
      maxRequestBytes: 1.5 * 1024 * 1024,
      transaction: (fn) => sql.transactionSync(fn),
      maxRangeResponseBytes: 4096,
      minLeaseTtlSeconds: 2,
      localNowMs: () => Date.now(),
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
        requestTimeoutMs: 5_000,
        randomSeed: Number(id) * 7919,
      },
    )
    term = core.status().term
    const member = { id, sql, machine, core }
    this.members.set(id, member)
    return member
  }

  private async deliver(from: string, to: string, messages: Message[]): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    if (this.isolated.has(from) || this.isolated.has(to)) throw new Error('partitioned')
    this.members.get(to)?.core.receive(messages)
  }

  /** Ticks every member `n` times, letting messages flow between ticks. */
  async tick(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.core.tick()
      for (let j = 0; j < 5; j++) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  leader(): TestMember | undefined {
    return [...this.members.values()].find((m) => m.core.isLeader && !this.isolated.has(m.id))
  }

  async waitLeader(): Promise<TestMember> {
    for (let i = 0; i < 200; i++) {
      const leader = this.leader()
      if (leader) return leader
      await this.tick(1)
    }
    throw new Error('no leader elected')
  }

  async put(key: string, value: string, requestId = `r${this.nextRequest++}`): Promise<KvReply> {
    const leader = await this.waitLeader()
    const body = JSON.stringify({ key: b64(key), value: b64(value) })
    const [result] = await Promise.all(
      leader.core.propose([{ requestId, data: KvMachine.entry(requestId, 'put', body) }]),
    )
    return result!.value as KvReply
  }

  /** Ticks until every member has applied as far as the leader. */
  async converge(): Promise<void> {
    const leader = await this.waitLeader()
    for (let i = 0; i < 500; i++) {
      const target = leader.machine.appliedIndex()
      if ([...this.members.values()].every((m) => m.machine.appliedIndex() === target)) return
      await this.tick(1)
    }
    throw new Error('members did not converge')
  }
}

function hashes(cluster: InProcessCluster): number[] {
  return [...cluster.members.values()].map((m) => m.machine.store.hashKV().hash)
}

describe('member cores over SQLite', () => {
  let cluster: InProcessCluster | undefined
  afterEach(() => {
    for (const m of cluster?.members.values() ?? []) m.sql.close()
    cluster = undefined
  })

  it('elect a leader, replicate puts, and reach identical stores', async () => {
    cluster = new InProcessCluster(['1', '2', '3'])
    for (let i = 0; i < 20; i++) {
      const reply = await cluster.put(`k${i % 5}`, `v${i}`)
      expect(reply.status).toBe(200)
    }
    await cluster.converge()
    const [first, ...rest] = hashes(cluster)
    for (const h of rest) expect(h).toBe(first)
    for (const m of cluster.members.values()) expect(m.machine.currentRevision()).toBe(21)
  })

  it('apply a retried proposal (same request id) at most once', async () => {
    cluster = new InProcessCluster(['1', '2', '3'])
    const first = await cluster.put('a', '1', 'same-id')
    const again = await cluster.put('a', '2', 'same-id')
    expect(again).toEqual(first)
    await cluster.converge()
    for (const m of cluster.members.values()) expect(m.machine.currentRevision()).toBe(2)
  })

  it('catch up a member that fell behind the compacted log by snapshot', async () => {
    cluster = new InProcessCluster(['1', '2', '3'], 5)
    await cluster.put('before', 'x')
    const lagging = [...cluster.members.values()].find((m) => !m.core.isLeader)!
    cluster.isolated.add(lagging.id)
    for (let i = 0; i < 40; i++) await cluster.put(`k${i}`, `v${i}`)
    const leader = cluster.leader()!
    expect(leader.core.storage.firstIndex()).toBeGreaterThan(lagging.machine.appliedIndex() + 1)
    cluster.isolated.delete(lagging.id)
    await cluster.converge()
    const [first, ...rest] = hashes(cluster)
    for (const h of rest) expect(h).toBe(first)
    expect(lagging.machine.currentRevision()).toBe(leader.machine.currentRevision())
    // The lagging member's log restarts after the snapshot it installed.
    expect(lagging.core.storage.firstIndex()).toBeGreaterThan(2)
  })

  it('restart a member from its storage with nothing lost', async () => {
    cluster = new InProcessCluster(['1', '2', '3'])
    for (let i = 0; i < 10; i++) await cluster.put(`k${i}`, `v${i}`)
    await cluster.converge()
    const victim = [...cluster.members.values()].find((m) => !m.core.isLeader)!
    const before = victim.machine.store.hashKV().hash
    const restarted = cluster.start(victim.id, victim.sql)
    expect(restarted.machine.store.hashKV().hash).toBe(before)
    await cluster.put('after', 'restart')
    await cluster.converge()
    const [first, ...rest] = hashes(cluster)
    for (const h of rest) expect(h).toBe(first)
  })

  it('apply nothing of a txn that fails after some of its ops wrote', async () => {
    cluster = new InProcessCluster(['1', '2', '3'])
    await cluster.put('big', 'x'.repeat(3000))
    const leader = await cluster.waitLeader()
    const before = leader.machine.currentRevision()
    // The put would be written before the range exceeds the 4 KiB reply cap.
    const body = JSON.stringify({
      success: [
        { request_put: { key: b64('side-effect'), value: b64('y'.repeat(2000)) } },
        { request_range: { key: b64('a'), range_end: b64('z') } },
      ],
    })
    const [result] = await Promise.all(
      leader.core.propose([{ requestId: 'txn', data: KvMachine.entry('txn', 'txn', body) }]),
    )
    expect((result!.value as KvReply).status).not.toBe(200)
    await cluster.converge()
    for (const m of cluster.members.values()) {
      expect(m.machine.currentRevision()).toBe(before)
      expect(
        m.machine.read('range', JSON.stringify({ key: b64('side-effect') })).body,
      ).not.toContain('kvs')
    }
  })
})
