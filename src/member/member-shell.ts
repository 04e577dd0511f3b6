// The member's side of etcd's Cluster service: membership changes on the leader, discovery
// answers for the front door, and retiring a removed member. The Durable Object class
// (member.ts) hands it what it needs as hooks; recovery.ts does backup, restore and
// force-new-cluster with the same hooks.
import type { MemberCore } from './member-core.ts'
import { MemberError } from './member-core.ts'
import type { KvMachine } from './kv-machine.ts'
import type { Membership, MemberRecord } from './membership.ts'
import {
  HEALTH_INTERVAL_MS,
  newMemberId,
  planChange,
  type MemberChangeReply,
  type MemberRequest,
} from './membership-service.ts'

/** How a member with no storage starts: as one of a new INITIAL_CLUSTER, or joining. */
export type StartMode = 'bootstrap' | 'join'

/** What an object says about itself without being started (the front door's discovery). */
export type MemberDescription =
  | { state: 'fresh' }
  | { state: 'retired'; members: MemberRecord[] }
  | { state: 'started'; name: string; id: string; members: MemberRecord[]; appliedIndex: number }

/** The peer RPCs the shell calls on other members. */
export interface PeerStub {
  memberChange(name: string, request: MemberRequest): Promise<MemberChangeReply>
  retire(members: MemberRecord[]): Promise<void>
  describe(): Promise<MemberDescription>
}

/** What the shell needs from its Durable Object. */
export interface ShellHooks {
  sql: SqlStorage
  transaction<T>(fn: () => T): T
  clusterName: string
  core(): MemberCore | undefined
  machine(): KvMachine | undefined
  membership(): Membership | undefined
  self(): { name: string; id: string } | undefined
  peer(member: MemberRecord): PeerStub
  /** Stops the member for good (timers, alarm, in-memory core). */
  stop(): void
  /** Drops the in-memory core and boots it again from storage. */
  reboot(): void
}

/** Tables that belong to one member and never travel or get wiped by a retirement. */
const LOCAL_TABLES = new Set([
  'schema_migrations',
  'member_identity',
  'member_retired',
  'member_forced',
  '_cf_KV',
  '_cf_METADATA',
])

/** How long a removed leader waits for its successor to hear from every member. */
const NEW_LEADER_SETTLE_MS = 300

export class MemberShell {
  /** One membership change in flight per leader (thesis §4.1; raft drops a second). */
  private changeChain: Promise<unknown> = Promise.resolve()
  /** Since when this member has known no leader (undefined: it knows one). */
  private leaderlessSinceMs: number | undefined
  private removalCheck: Promise<void> | undefined

  constructor(private readonly hooks: ShellHooks) {}

  isRetired(): boolean {
    return this.hooks.sql.exec('SELECT 1 FROM member_retired WHERE id = 1').toArray().length > 0
  }

  describe(): MemberDescription {
    const retired = this.hooks.sql
      .exec('SELECT members FROM member_retired WHERE id = 1')
      .toArray()[0] as { members: string } | undefined
    if (retired) return { state: 'retired', members: JSON.parse(retired.members) as MemberRecord[] }
    const self = this.hooks.self()
    const membership = this.hooks.membership()
    if (!self || !membership) return { state: 'fresh' }
    return {
      state: 'started',
      name: self.name,
      id: self.id,
      members: membership.list(),
      appliedIndex: this.hooks.machine()!.appliedIndex(),
    }
  }

  /** The membership as applied here (etcd serves MemberList from the local member too). */
  memberList(): MemberRecord[] {
    return this.hooks.membership()!.list()
  }

  /** Runs a membership request on the leader (a follower forwards it there). */
  async memberChange(request: MemberRequest): Promise<MemberChangeReply> {
    const core = this.hooks.core()!
    const self = this.hooks.self()!
    const seen = this.appliedReply(request)
    if (seen) return seen
    if (!core.isLeader) {
      const leader = this.hooks.membership()!.get(core.lead)
      if (!leader) return { ok: false, etcdError: 'NoLeader' }
      return this.hooks.peer(leader).memberChange(leader.name, request)
    }
    if (request.op === 'remove' && request.id === self.id) return this.removeLeader(request)
    const run = this.changeChain.then(() => this.proposeChange(request))
    this.changeChain = run.catch(() => undefined)
    return run
  }

  /** A retried request whose change was already applied gets its answer again. */
  private appliedReply(request: MemberRequest): MemberChangeReply | undefined {
    const seen = this.hooks.sql
      .exec('SELECT 1 FROM member_requests WHERE request_id = ?', request.requestId)
      .toArray()
    if (seen.length === 0) return undefined
    const members = this.memberList()
    if (request.op !== 'add') return { ok: true, members }
    const id = newMemberId(request.requestId, new Set())
    const member = members.find((m) => m.id === id)
    return member ? { ok: true, member, members } : { ok: true, members }
  }

  private async proposeChange(request: MemberRequest): Promise<MemberChangeReply> {
    const core = this.hooks.core()!
    const self = this.hooks.self()!
    if (!core.isLeader) return { ok: false, etcdError: 'LeaderChanged' }
    const plan = planChange(
      {
        clusterName: this.hooks.clusterName,
        selfId: self.id,
        members: this.memberList(),
        raft: core.status(),
        active: (id) => core.activeSince(id, HEALTH_INTERVAL_MS),
      },
      request,
    )
    if ('ok' in plan) return plan
    try {
      await core.proposeConfChange(request.requestId, plan.cc)
    } catch (e) {
      if (e instanceof MemberError) return { ok: false, etcdError: e.etcdError }
      throw e
    }
    const members = this.memberList()
    return plan.member ? { ok: true, member: plan.member, members } : { ok: true, members }
  }

  /**
   * Removing the leader: leadership moves first (to the voter with the longest log), then the
   * new leader removes this member, so the cluster never waits an election timeout.
   */
  private async removeLeader(request: MemberRequest): Promise<MemberChangeReply> {
    const core = this.hooks.core()!
    const self = this.hooks.self()!
    const progress = core.status().progress ?? {}
    const voters = this.memberList().filter((m) => !m.isLearner && m.id !== self.id)
    const target = voters
      .filter((m) => core.activeSince(m.id, HEALTH_INTERVAL_MS))
      .sort((a, b) => (progress[b.id]?.match ?? 0) - (progress[a.id]?.match ?? 0))[0]
    if (!target) return this.proposeChange(request)
    core.transferLeader(target.id)
    const deadline = Date.now() + 3_000
    while (Date.now() < deadline && (core.isLeader || core.lead === '')) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const leader = this.hooks.membership()!.get(core.lead)
    if (core.isLeader || !leader) return { ok: false, etcdError: 'LeaderChanged' }
    // The new leader judges who is up by what it delivered since it took over: give it a few
    // heartbeats, or a member it has not reached yet would count as down.
    await new Promise((resolve) => setTimeout(resolve, NEW_LEADER_SETTLE_MS))
    return this.hooks.peer(leader).memberChange(leader.name, request)
  }

  /** A member left the membership: it retires itself, or the leader tells it to. */
  memberRemoved(gone: MemberRecord): void {
    const self = this.hooks.self()
    const members = this.hooks.membership()!.list()
    if (gone.id === self?.id) {
      // Not now: we are inside the apply transaction of the Ready loop.
      setTimeout(() => this.retire(members), 0)
      return
    }
    if (this.hooks.core()?.isLeader) {
      this.hooks
        .peer(gone)
        .retire(members)
        .catch(() => undefined)
    }
  }

  /**
   * A member removed while it was unreachable never hears of it (the leader stops writing to
   * it). After `afterMs` without a leader it asks its peers: one that applied more of the log
   * and no longer lists it proves the removal was committed (an ID is never re-added), and it
   * retires. Called on every tick.
   */
  checkRemoval(nowMs: number, afterMs: number): void {
    const core = this.hooks.core()
    if (!core || core.lead !== '') {
      this.leaderlessSinceMs = undefined
      return
    }
    this.leaderlessSinceMs ??= nowMs
    if (nowMs - this.leaderlessSinceMs < afterMs || this.removalCheck) return
    this.leaderlessSinceMs = nowMs
    this.removalCheck = this.askPeersAboutUs().finally(() => {
      this.removalCheck = undefined
    })
  }

  private async askPeersAboutUs(): Promise<void> {
    const self = this.hooks.self()
    const machine = this.hooks.machine()
    if (!self || !machine) return
    const peers = this.memberList().filter((m) => m.id !== self.id)
    const answers = await Promise.all(
      peers.map((m) =>
        this.hooks
          .peer(m)
          .describe()
          .catch(() => undefined),
      ),
    )
    const applied = machine.appliedIndex()
    const proof = answers.find(
      (a) =>
        a?.state === 'started' &&
        a.appliedIndex > applied &&
        !a.members.some((m) => m.id === self.id),
    )
    if (proof?.state === 'started') this.retire(proof.members)
  }

  /**
   * This member was removed: stop for good, keep only a tombstone with the membership it last
   * knew (a forwarding address for front doors), and drop its raft and MVCC data.
   */
  retire(members: MemberRecord[]): void {
    if (this.isRetired()) return
    this.hooks.stop()
    const sql = this.hooks.sql
    this.hooks.transaction(() => {
      const tables = sql
        .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .toArray() as { name: string }[]
      for (const { name } of tables) if (!LOCAL_TABLES.has(name)) sql.exec(`DELETE FROM ${name}`)
      sql.exec(
        'INSERT INTO member_retired (id, members, retired_at_ms) VALUES (1, ?, ?)',
        JSON.stringify(members),
        Date.now(),
      )
    })
  }
}
