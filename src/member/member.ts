// The Member Durable Object: one cluster member with its own SQLite database (Raft log + MVCC
// store). A thin shell: it starts up (migrations, identity), turns platform events (alarms, RPC
// from the front door and from peers) into calls on its MemberCore, and encodes the answers.
import { DurableObject } from 'cloudflare:workers'
import type { Message } from '../raft/index.ts'
import type { KvRequest } from '../api/kv-service.ts'
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version.ts'
import { readClusterConfig, type ClusterConfig } from './config.ts'
import type { Env } from './env.ts'
import { clusterId, identityOf, memberId } from './identity.ts'
import { KvMachine, type KvReply, type MachineRoute } from './kv-machine.ts'
import { SqlAlarmSet } from './alarms.ts'
import {
  alarmMachineOptions,
  INTERNAL_REQUEST_PREFIX,
  MemberMaintenance,
  type MaintenanceOp,
} from './maintenance.ts'
import type { MetricFamily } from './metrics.ts'
import { minLeaseTtlSeconds } from '../mvcc/lease-store.ts'
import { LeaseTimer } from './lease-timer.ts'
import { MemberCore, MemberError } from './member-core.ts'
import { Membership, type MemberRecord } from './membership.ts'
import {
  MemberShell,
  type MemberDescription,
  type ShellHooks,
  type StartMode,
} from './member-shell.ts'
import { Recovery, type SavedSnapshot } from './recovery.ts'
import type { RestoreOutcome } from './restore.ts'
import type { MemberChangeReply, MemberRequest } from './membership-service.ts'
import { EventWaiters, type WaitEventsReply, type WaitEventsRequest } from './event-waiters.ts'
import { applyMigrations } from './migrations.ts'
import { WatchHub } from './watch-hub.ts'
import { serveHttpWatch, SocketWatches } from './watch-streams.ts'
import {
  needsChunks,
  SnapshotAssembler,
  splitSnapshot,
  type ChunkedMessages,
  type SnapshotChunk,
} from './snapshot-chunks.ts'

/** What a member says about itself (the front door builds /health, status, member list from it). */
export interface MemberStatus {
  name: string
  memberId: string
  clusterId: string
  etcdServerVersion: string
  etcdClusterVersion: string
  migrationsApplied: number[]
  dbSizeBytes: number
  /** Raft: this member's view. `leader` is a member id, '' when unknown. */
  leader: string
  leaderName: string | undefined
  isLeader: boolean
  isLearner: boolean
  raftTerm: number
  raftIndex: number
  raftAppliedIndex: number
  revision: number
}

/** A failed member call, as a value (RPC loses error classes): an etcd error name. */
export interface MemberFailure {
  ok: false
  etcdError: MemberError['etcdError']
  leaderName?: string
}

/** The answers to a batch, in order, with the leader this member knows (for the caller's hint). */
export interface BatchReply {
  leaderName: string | undefined
  results: (KvReply | MemberFailure)[]
}

/** One KV write (or alarm request) for `writeBatch`. */
export interface KvWrite {
  route: MachineRoute
  body: string
  requestId: string
}

/** One KV read for `readBatch`. */
export interface KvRead {
  route: MachineRoute
  body: string
  /** The body as the front door decoded and validated it (then it is not decoded again here). */
  request?: KvRequest
}

/** Test-only faults a member can be told to suffer (DEV_FAULTS). */
export type DevFault =
  'isolate' | 'heal' | 'crash' | 'drop' | 'delay' | 'dropchunk' | 'skew' | 'unsafe-local-reads'

/** A member without a leader for this many election timeouts asks whether it was removed. */
const REMOVAL_CHECK_ELECTIONS = 10

/** The keep-alive alarm fires every this many heartbeat intervals. */
const KEEPALIVE_TICKS = 10

/** Proposals and reads time out after this long (etcd: 5 s + 2 × election timeout). */
const REQUEST_TIMEOUT_EXTRA_MS = 5_000

/** A cluster member. Its Durable Object name is `<cluster>/<member>`. */
export class Member extends DurableObject<Env> {
  private readonly config: ClusterConfig
  private migrationsApplied: number[] = []
  private name: string | undefined
  private core: MemberCore | undefined
  private machine: KvMachine | undefined
  private watches: WatchHub | undefined
  private leases: LeaseTimer | undefined
  private sockets: SocketWatches | undefined
  private maintenance: MemberMaintenance | undefined
  private eventWaiters: EventWaiters | undefined
  private lastProgressNotifyMs = Date.now()
  private tickTimer: ReturnType<typeof setTimeout> | undefined
  private readonly peerStubs = new Map<string, DurableObjectStub<Member>>()
  /** INITIAL_CLUSTER: id → name. Bootstrap only; the membership table is the truth after. */
  private readonly bootstrapNames: Map<string, string>
  /** The replicated membership as last applied here: id → member. */
  private records = new Map<string, MemberRecord>()
  private membership: Membership | undefined
  /** Peers that wrote to us before we knew them from the membership (we are joining). */
  private readonly senders = new Map<string, MemberRecord>()
  /** Membership RPCs and retirement (member-shell.ts). */
  readonly shell: MemberShell
  /** Backup, restore and disaster recovery (recovery.ts). */
  readonly recovery: Recovery
  /** This member was removed from the cluster: it serves nothing any more. */
  private retired = false
  /** Chunked snapshots being received, per sending member id. */
  private readonly snapshotsIn = new Map<string, SnapshotAssembler>()
  private snapshotChunksReceived = 0
  private snapshotTransfersFailed = 0
  /** Test-only: drop raft traffic (DEV_FAULTS). */
  private isolated = false
  private dropRate = 0
  private delayMs = 0
  /** Test-only: the next chunked snapshot sent loses this chunk (DEV_FAULTS `dropchunk`). */
  private dropChunk: number | undefined
  /** Test-only: this member's tick interval is heartbeatIntervalMs × tickScale (clock skew). */
  private tickScale = 1
  /** When this object last booted (a crash or restart boots it again): tests detect crashes. */
  private bootedAtMs = 0
  /** Test-only MUTATION: linearizable reads served locally, without ReadIndex (a bug on purpose). */
  private unsafeLocalReads = false

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.config = readClusterConfig(env as unknown as Record<string, unknown>)
    this.bootstrapNames = new Map(
      this.config.members.map((m) => [memberId(this.config.clusterName, m.name), m.name]),
    )
    this.shell = new MemberShell(this.hooks())
    this.recovery = new Recovery(this.hooks())
    void ctx.blockConcurrencyWhile(async () => {
      this.migrationsApplied = applyMigrations(ctx.storage)
      this.retired = this.shell.isRetired()
      const stored = this.storedIdentity()
      if (stored !== undefined && !this.retired) this.boot(stored.name, stored.id, false)
    })
  }

  // ---- RPC from the front door -------------------------------------------------------------

  /**
   * Starts the member under `name` (idempotent) and keeps it ticking. A member with no storage
   * yet starts as `bootstrap` (one of INITIAL_CLUSTER, all of them new) or `join` (it waits for
   * the leader to send it the state and log). `id` is the member's ID (from the membership).
   */
  async start(name: string, mode: StartMode, id?: string): Promise<MemberStatus> {
    this.ensureStarted(name, { mode, id })
    return this.status(name)
  }

  /** Who this object is, without starting it (the front door's discovery). */
  async describe(): Promise<MemberDescription> {
    return this.shell.describe()
  }

  /** This member's identity and raft state. */
  async status(name: string): Promise<MemberStatus> {
    const core = this.ensureStarted(name)
    const raft = core.status()
    const leaderName = this.nameOf(raft.lead)
    return {
      name,
      memberId: this.core!.status().id,
      clusterId: clusterId(this.config.clusterName),
      etcdServerVersion: ETCD_SERVER_VERSION,
      etcdClusterVersion: ETCD_CLUSTER_VERSION,
      migrationsApplied: this.migrationsApplied,
      dbSizeBytes: this.ctx.storage.sql.databaseSize,
      leader: raft.lead,
      leaderName,
      isLeader: raft.state === 'leader',
      isLearner: raft.config.learners.includes(raft.id),
      raftTerm: raft.term,
      raftIndex: core.storage.lastIndex(),
      raftAppliedIndex: this.machine!.appliedIndex(),
      revision: this.machine!.currentRevision(),
    }
  }

  /**
   * KV writes (put, deleterange, txn with writes, compaction), proposed through raft together
   * (group commit) and answered once applied here. Each request id applies at most once, so a
   * retry of the same request (here or on another member) is safe.
   */
  async writeBatch(name: string, writes: KvWrite[]): Promise<BatchReply | MemberFailure> {
    const core = this.ensureStarted(name)
    const leader = this.records.get(core.lead)
    if (!core.isLeader && leader !== undefined) {
      // Forward to the leader in one hop: a follower would otherwise learn of the commit only
      // from the leader's next heartbeat. The caller learns the leader from the answer.
      return this.peer(leader).writeBatch(leader.name, writes)
    }
    // etcd's quota check before proposing (raises NOSPACE and refuses what does not fit).
    const refused = this.maintenance!.overQuota(writes)
    if (refused.size > 0) {
      return this.maintenance!.refuseOverQuota(writes, refused, (rest) =>
        this.proposeWrites(core, rest),
      )
    }
    return this.proposeWrites(core, writes)
  }

  /** Proposes writes through raft (group commit) and waits for their answers. */
  private async proposeWrites(
    core: MemberCore,
    writes: KvWrite[],
  ): Promise<BatchReply | MemberFailure> {
    const startedMs = Date.now()
    const metrics = this.maintenance!.metrics
    let pending: Promise<{ value: unknown }>[]
    try {
      pending = core.propose(
        writes.map((w) => ({
          requestId: w.requestId,
          data: this.leases!.entryData(w.requestId, w.route, w.body),
        })),
      )
    } catch (e) {
      return this.failure(e)
    }
    metrics.pendingProposals += pending.length
    const settled = await Promise.allSettled(pending)
    metrics.pendingProposals -= pending.length
    const results = settled.map((s) =>
      s.status === 'fulfilled' ? (s.value.value as KvReply) : this.failure(s.reason),
    )
    this.maintenance!.recordRequests(writes, results, startedMs)
    return { leaderName: this.nameOf(core.lead), results }
  }

  /**
   * KV reads (range, read-only txn) served here: all of a batch share one raft ReadIndex round
   * unless serializable, then run on this member's store.
   */
  async readBatch(
    name: string,
    reads: KvRead[],
    serializable: boolean,
  ): Promise<BatchReply | MemberFailure> {
    const core = this.ensureStarted(name)
    const startedMs = Date.now()
    try {
      if (!serializable && !this.unsafeLocalReads) await core.linearizableBarrier()
    } catch (e) {
      this.maintenance!.metrics.readIndexesFailed.inc()
      return this.failure(e)
    }
    const results = reads.map((r) =>
      r.request ? this.machine!.readDecoded(r.request) : this.machine!.read(r.route, r.body),
    )
    this.maintenance!.recordRequests(reads, results, startedMs)
    return { leaderName: this.nameOf(core.lead), results }
  }

  // ---- maintenance (src/member/maintenance.ts) ---------------------------------------------

  /** A maintenance RPC answered by this member (status, hash, hashkv, defragment, moveLeader). */
  async maintenanceCall(
    name: string,
    op: MaintenanceOp,
    body: string,
  ): Promise<KvReply | MemberFailure> {
    this.ensureStarted(name)
    return this.maintenance!.handle(op, body)
  }

  /** This member's Prometheus metric families (counters since the object started). */
  async metrics(name: string): Promise<MetricFamily[]> {
    this.ensureStarted(name)
    return this.maintenance!.collectMetrics()
  }

  // ---- membership (member-shell.ts), backup and disaster recovery (recovery.ts) -------------

  /** etcd MemberList: the membership as applied on this member. */
  async memberList(name: string): Promise<{ members: MemberRecord[]; status: MemberStatus }> {
    this.ensureStarted(name)
    return { members: this.shell.memberList(), status: await this.status(name) }
  }

  /** etcd MemberAdd/Remove/Update/Promote, run on the leader (a follower forwards it). */
  async memberChange(name: string, request: MemberRequest): Promise<MemberChangeReply> {
    this.ensureStarted(name)
    return this.shell.memberChange(request)
  }

  /** This member was removed from the cluster (called by the leader that removed it). */
  async retire(members: MemberRecord[]): Promise<void> {
    if (this.isolated) throw new Error('isolated by a test')
    if (this.storedIdentity() === undefined) return
    this.shell.retire(members)
  }

  /** etcd Maintenance.Snapshot: a consistent copy of the whole store. */
  async snapshotSave(name: string): Promise<SavedSnapshot | MemberFailure> {
    this.ensureStarted(name)
    try {
      return await this.recovery.snapshotSave()
    } catch (e) {
      return this.failure(e)
    }
  }

  /** Restores a saved snapshot into this fresh cluster (through raft; leader only). */
  async restoreSnapshot(
    name: string,
    requestId: string,
    data: string,
  ): Promise<RestoreOutcome | MemberFailure> {
    const core = this.ensureStarted(name)
    const leader = this.records.get(core.lead)
    if (!core.isLeader && leader !== undefined) {
      return this.peer(leader).restoreSnapshot(leader.name, requestId, data)
    }
    try {
      return await this.recovery.restore(requestId, data)
    } catch (e) {
      return this.failure(e)
    }
  }

  /** Disaster recovery: make this member the only voter of its cluster, once per `token`. */
  async forceNewCluster(name: string, token: string): Promise<MemberStatus> {
    this.ensureStarted(name, { mode: 'join' })
    this.recovery.forceNewCluster(token)
    return this.status(name)
  }

  private hooks(): ShellHooks {
    return {
      sql: this.ctx.storage.sql,
      transaction: (fn) => this.ctx.storage.transactionSync(fn),
      clusterName: this.config.clusterName,
      core: () => this.core,
      machine: () => this.machine,
      membership: () => this.membership,
      self: () =>
        this.core && this.name ? { name: this.name, id: this.core.status().id } : undefined,
      peer: (member) => this.peer(member),
      stop: () => {
        this.retired = true
        this.halt()
        void this.ctx.storage.deleteAlarm()
      },
      reboot: () => {
        const self = this.storedIdentity()!
        this.halt()
        this.boot(self.name, self.id, false)
      },
    }
  }

  /** Stops ticking and drops the in-memory core (storage is untouched). */
  private halt(): void {
    if (this.tickTimer !== undefined) clearTimeout(this.tickTimer)
    this.tickTimer = undefined
    this.core?.stop()
    this.core = undefined
  }

  /**
   * Lease keepalives (src/member/lease-timer.ts): answered by the leader once replicated, one
   * LeaseKeepAliveResponse (JSON) per ID. A follower forwards them to the leader.
   */
  async leaseKeepAlive(
    name: string,
    ids: string[],
  ): Promise<{ leaderName: string | undefined; results: string[] } | MemberFailure> {
    const core = this.ensureStarted(name)
    const leader = this.records.get(core.lead)
    if (!core.isLeader && leader !== undefined) {
      return this.peer(leader).leaseKeepAlive(leader.name, ids)
    }
    try {
      const results = await this.leases!.keepAlive(ids)
      return { leaderName: this.nameOf(core.lead), results }
    } catch (e) {
      return this.failure(e)
    }
  }

  /** Long-poll on the event log, for the lock and election services (event-waiters.ts). */
  async waitEvents(name: string, request: WaitEventsRequest): Promise<WaitEventsReply> {
    this.ensureStarted(name)
    return this.eventWaiters!.wait(request)
  }

  // ---- watch streams (fetch from the front door: chunked HTTP or WebSocket) -----------------

  /** `/watch`: a watch stream on this member. The member's name comes in `x-edge-member`. */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get('x-edge-member')
    if (name === null || new URL(request.url).pathname !== '/watch') {
      return new Response('not found', { status: 404 })
    }
    this.ensureStarted(name)
    if (request.headers.get('Upgrade')?.toLowerCase() === 'websocket') {
      const { 0: client, 1: server } = new WebSocketPair()
      this.ctx.acceptWebSocket(server)
      this.sockets!.streamOf(server)
      return new Response(null, { status: 101, webSocket: client })
    }
    return serveHttpWatch(this.watches!, request.body)
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.ensureBooted()
    this.sockets!.message(ws, message)
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.sockets?.close(ws)
    // A close without a status (1005) must be answered with a normal one (TOOLCHAIN.md).
    try {
      ws.close(code === 1005 ? 1000 : code, 'closed')
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets?.close(ws)
  }

  // ---- RPC from peers ----------------------------------------------------------------------

  /**
   * Raft messages from a peer. A member that was never started joins (the leader wakes a
   * member it added); it never bootstraps from a peer's message.
   */
  async receive(
    name: string,
    messages: Message[],
    id?: string,
    from?: MemberRecord,
  ): Promise<void> {
    const core = this.ensureStarted(name, { mode: 'join', id })
    // A joining member knows nobody until it applies the membership: it answers the sender.
    if (from && !this.records.has(from.id)) this.senders.set(from.id, from)
    if (this.isolated) throw new Error('isolated by a test')
    // Tests (DEV_FAULTS) hold every call to the chunk size, as the platform holds it to 32 MiB.
    if (this.env.DEV_FAULTS === 'true' && needsChunks(messages, this.config.snapshotChunkBytes)) {
      throw new Error('a snapshot larger than SNAPSHOT_CHUNK_BYTES arrived in one call')
    }
    this.maintenance!.recordReceived(messages)
    core.receive(messages)
  }

  /** One chunk of a snapshot that peer `from` is sending (snapshot-chunks.ts). */
  async receiveSnapshotChunk(name: string, from: string, chunk: SnapshotChunk): Promise<void> {
    this.ensureStarted(name)
    if (this.isolated) throw new Error('isolated by a test')
    let assembler = this.snapshotsIn.get(from)
    if (!assembler) this.snapshotsIn.set(from, (assembler = new SnapshotAssembler()))
    assembler.accept(chunk)
    this.snapshotChunksReceived++
  }

  /** The raft messages that end a chunked snapshot transfer from `from`. */
  async receiveChunked(name: string, from: string, final: ChunkedMessages): Promise<void> {
    const core = this.ensureStarted(name)
    if (this.isolated) throw new Error('isolated by a test')
    const assembler = this.snapshotsIn.get(from) ?? new SnapshotAssembler()
    let messages: Message[]
    try {
      messages = assembler.complete(final)
    } catch (e) {
      this.snapshotTransfersFailed++
      throw e
    }
    this.maintenance!.recordReceived(messages)
    core.receive(messages)
  }

  // ---- test-only fault injection (DESIGN.md §5; only when the DEV_FAULTS var is set) --------

  /**
   * `isolate`: drop all raft traffic to and from this member; `heal`: undo every fault;
   * `crash`: lose memory and restart from storage (the Durable Object is reset, SQLite is kept);
   * `drop`: lose each outgoing batch with probability `value` (0–1); `delay`: hold each
   * outgoing batch `value` ms (so batches also overtake each other: reordering);
   * `dropchunk`: the next snapshot this member sends in chunks loses chunk number `value`;
   * `skew`: tick every `value` × the heartbeat interval (a fast or slow clock);
   * `unsafe-local-reads`: a deliberate bug, linearizable reads answered from local state without
   * ReadIndex, so tests can show the linearizability checker catches it.
   */
  async devFault(name: string, fault: DevFault, value = 0): Promise<void> {
    if (this.env.DEV_FAULTS !== 'true') throw new Error('fault injection is disabled')
    this.ensureStarted(name)
    if (fault === 'isolate') this.isolated = true
    if (fault === 'heal') {
      this.isolated = false
      this.dropRate = 0
      this.delayMs = 0
      this.dropChunk = undefined
      this.tickScale = 1
      this.unsafeLocalReads = false
    }
    if (fault === 'dropchunk') this.dropChunk = value
    if (fault === 'drop') this.dropRate = value
    if (fault === 'delay') this.delayMs = value
    if (fault === 'skew' && value > 0) this.tickScale = value
    if (fault === 'unsafe-local-reads') this.unsafeLocalReads = true
    if (fault === 'crash') this.ctx.abort('crash injected by a test')
  }

  /** Test-only: HashKV of this member's store at its current revision (for agreement checks). */
  async devHashKv(
    name: string,
    revision = 0,
  ): Promise<{
    hash: number
    revision: number
    appliedIndex: number
    snapshotChunksReceived: number
    snapshotTransfersFailed: number
    bootedAtMs: number
  }> {
    if (this.env.DEV_FAULTS !== 'true') throw new Error('fault injection is disabled')
    this.ensureStarted(name)
    const store = this.machine!.store
    return {
      hash: store.hashKV(revision).hash,
      revision: revision || store.currentRevision(),
      appliedIndex: store.appliedIndex(),
      snapshotChunksReceived: this.snapshotChunksReceived,
      snapshotTransfersFailed: this.snapshotTransfersFailed,
      bootedAtMs: this.bootedAtMs,
    }
  }

  // ---- platform events -----------------------------------------------------------------------

  /** Raft ticks: one per heartbeat interval, on every member (etcd ticks the same way). */
  /**
   * Raft ticks run from an in-memory timer, one per heartbeat interval, on every member (etcd
   * ticks the same way). The alarm is only the keep-alive: it (re)starts the timer after an
   * eviction or restart and keeps the object running. Setting an alarm is a storage write (a
   * disk sync locally); one per tick on every member was ~30 syncs a second for nothing.
   */
  override async alarm(): Promise<void> {
    if (this.retired) return
    if (!this.core) this.ensureBooted()
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_TICKS * this.config.heartbeatIntervalMs)
    this.startTicking()
  }

  private startTicking(): void {
    if (this.tickTimer !== undefined || this.retired || !this.core) return
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined
      this.tick()
      this.startTicking()
    }, this.config.heartbeatIntervalMs * this.tickScale)
  }

  private tick(): void {
    this.core!.tick()
    this.leases!.tick()
    const now = Date.now()
    this.shell.checkRemoval(now, REMOVAL_CHECK_ELECTIONS * this.config.electionTimeoutMs)
    this.maintenance!.onTick(now)
    if (now - this.lastProgressNotifyMs >= this.config.watchProgressNotifyIntervalMs) {
      this.lastProgressNotifyMs = now
      this.watches!.progressNotify()
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * The running core. Only `start` (and a peer's message, as `join`) may start a member that
   * has no storage yet; any other call to such a member fails, and the caller tries another.
   */
  private ensureStarted(name: string, starting?: { mode: StartMode; id?: string }): MemberCore {
    if (this.retired) throw new Error(`member ${name} was removed from the cluster`)
    if (this.core) {
      if (name !== this.name) throw new Error(`member ${this.name} was called as ${name}`)
      return this.core
    }
    if (!starting) throw new Error(`member ${name} is not started`)
    const id = identityOf(
      this.config.clusterName,
      new Set(this.bootstrapNames.keys()),
      name,
      this.ctx.id.name,
      starting.id,
    )
    const bootstrap = starting.mode === 'bootstrap' && this.isBootstrapMember(name, id)
    this.ctx.storage.sql.exec(
      'INSERT OR IGNORE INTO member_identity (id, cluster_name, member_name, member_id, cluster_id, created_at_ms) ' +
        'VALUES (1, ?, ?, ?, ?, ?)',
      this.config.clusterName,
      name,
      id,
      clusterId(this.config.clusterName),
      Date.now(),
    )
    return this.boot(name, id, bootstrap)
  }

  private isBootstrapMember(name: string, id: string): boolean {
    return this.bootstrapNames.get(id) === name && id === memberId(this.config.clusterName, name)
  }

  /** After hibernation the object wakes for a socket event: boot from the stored identity. */
  private ensureBooted(): void {
    if (this.core) return
    const stored = this.storedIdentity()
    if (stored === undefined) throw new Error('member woke before it was ever started')
    this.boot(stored.name, stored.id, false)
  }

  private storedIdentity(): { name: string; id: string } | undefined {
    const row = this.ctx.storage.sql
      .exec('SELECT member_name, member_id FROM member_identity WHERE id = 1')
      .toArray()[0] as { member_name: string; member_id: string } | undefined
    return row && { name: row.member_name, id: row.member_id }
  }

  /** A member's name by raft id (the membership table, else INITIAL_CLUSTER). */
  private nameOf(id: string): string | undefined {
    return this.records.get(id)?.name ?? this.bootstrapNames.get(id)
  }

  /** Reloads the membership after an apply; acts on removals (membership changes are rare). */
  private refreshMembers(): void {
    const before = this.records
    this.records = new Map(this.membership!.list().map((m) => [m.id, m]))
    if (before.size === 0) return
    for (const [id, gone] of before) {
      if (this.records.has(id)) continue
      this.peerStubs.delete(id)
      this.shell.memberRemoved(gone)
    }
  }

  private boot(name: string, id: string, bootstrap: boolean): MemberCore {
    this.name = name
    this.bootedAtMs = Date.now()
    const electionTicks = Math.round(
      this.config.electionTimeoutMs / this.config.heartbeatIntervalMs,
    )
    const storage = this.ctx.storage
    const alarms = new SqlAlarmSet(storage.sql)
    this.membership = new Membership(storage.sql, this.config.clusterName, this.bootstrapNames)
    this.machine = new KvMachine(storage.sql, {
      ...alarmMachineOptions(alarms),
      clusterId: clusterId(this.config.clusterName),
      memberId: id,
      raftTerm: () => this.core?.status().term ?? 0,
      maxTxnOps: this.config.maxTxnOps,
      maxRequestBytes: this.config.maxRequestBytes,
      transaction: (fn) => storage.transactionSync(fn),
      membership: this.membership,
      minLeaseTtlSeconds: minLeaseTtlSeconds(electionTicks, this.config.heartbeatIntervalMs),
      localNowMs: () => Date.now(),
    })
    this.leases = new LeaseTimer(
      this.machine,
      () => this.core!,
      () => Date.now(),
    )
    const header = () => ({
      clusterId: clusterId(this.config.clusterName),
      memberId: id,
      raftTerm: String(this.core?.status().term ?? 0),
    })
    this.watches = new WatchHub(this.machine.store, header, {
      eventsPerResponse: 1000,
      maxBacklogBytes: this.config.watchMaxBacklogBytes,
      fragmentBytes: this.config.maxRequestBytes,
    })
    this.sockets = new SocketWatches(this.watches, {
      drainBytesPerSec: this.config.watchWsDrainBytesPerSec,
      now: () => Date.now(),
    })
    this.eventWaiters = new EventWaiters(this.machine.store, header)
    for (const ws of this.ctx.getWebSockets()) this.sockets.streamOf(ws)
    const maintenance = new MemberMaintenance({
      sql: storage.sql,
      store: this.machine.store,
      alarms,
      config: this.config,
      memberId: id,
      core: () => this.core!,
      header,
      databaseSizeBytes: () => storage.sql.databaseSize,
      leaderName: () => this.nameOf(this.core!.lead),
      propose: async (route, body) => {
        const requestId = INTERNAL_REQUEST_PREFIX + crypto.randomUUID()
        const r = await this.writeBatch(name, [{ route, body, requestId }])
        return 'results' in r ? r.results[0]! : r
      },
      forward: (leader, op, body) => this.peerNamed(leader).maintenanceCall(leader, op, body),
      requestTimeoutMs: REQUEST_TIMEOUT_EXTRA_MS + 2 * this.config.electionTimeoutMs,
    })
    this.maintenance = maintenance
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!
    this.core = new MemberCore(
      storage.sql,
      (fn) => maintenance.timeCommit(() => storage.transactionSync(fn)),
      this.machine,
      (to, messages) => this.deliver(to, messages),
      {
        id,
        initialVoters: bootstrap ? [...this.bootstrapNames.keys()] : [],
        electionTicks,
        snapshotCount: this.config.snapshotCount,
        requestTimeoutMs: REQUEST_TIMEOUT_EXTRA_MS + 2 * this.config.electionTimeoutMs,
        randomSeed: seed,
        afterApply: () => {
          this.refreshMembers()
          this.watches!.notify()
          this.eventWaiters!.notify()
          this.sockets!.persistAll()
        },
        onLeaderChange: (lead) => maintenance.onLeaderChange(lead),
      },
    )
    const cs = this.core.storage.currentConfState()
    this.membership.seedFromConfState(cs.voters, cs.learners, 0)
    this.records = new Map(this.membership.list().map((m) => [m.id, m]))
    void this.ensureAlarm()
    this.startTicking()
    return this.core
  }

  private async ensureAlarm(): Promise<void> {
    const alarm = await this.ctx.storage.getAlarm()
    if (alarm === null)
      await this.ctx.storage.setAlarm(Date.now() + this.config.heartbeatIntervalMs)
  }

  /** A stub for the member called `name` now (the front door and maintenance speak names). */
  private peerNamed(name: string): DurableObjectStub<Member> {
    const member = [...this.records.values()].find((m) => m.name === name)
    if (!member) throw new Error(`no member named ${name}`)
    return this.peer(member)
  }

  /** A stub for a peer's Durable Object, reused until a call through it throws. */
  private peer(member: MemberRecord): DurableObjectStub<Member> {
    let stub = this.peerStubs.get(member.id)
    if (!stub) {
      stub = this.env.MEMBER.get(this.env.MEMBER.idFromName(member.objectName))
      this.peerStubs.set(member.id, stub)
    }
    return stub
  }

  /** Sends a batch of raft messages to a peer. A stub that threw is replaced before the next call. */
  private async deliver(to: string, messages: Message[]): Promise<void> {
    const member = this.records.get(to) ?? this.senders.get(to)
    if (member === undefined) return
    if (this.isolated) throw new Error('isolated by a test')
    // Test-only faults (DEV_FAULTS): randomness and time are fine here, in the shell.
    if (this.dropRate > 0 && Math.random() < this.dropRate) throw new Error('dropped by a test')
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs * Math.random()))
    const startedMs = Date.now()
    try {
      const chunkChars = this.config.snapshotChunkBytes
      if (!needsChunks(messages, chunkChars)) {
        const self = this.records.get(this.core?.status().id ?? '')
        await this.peer(member).receive(member.name, messages, member.id, self)
        this.maintenance!.recordSent(to, messages, (Date.now() - startedMs) / 1000)
        return
      }
      // A snapshot too large for one call goes in chunks, one call each, in order.
      const from = this.core!.status().id
      const { chunks, final } = splitSnapshot(messages, chunkChars, crypto.randomUUID())
      for (const chunk of chunks) {
        if (this.isolated) throw new Error('isolated by a test')
        if (this.dropRate > 0 && Math.random() < this.dropRate) throw new Error('dropped by a test')
        if (chunk.seq === this.dropChunk) {
          this.dropChunk = undefined
          continue
        }
        await this.peer(member).receiveSnapshotChunk(member.name, from, chunk)
      }
      await this.peer(member).receiveChunked(member.name, from, final)
      this.maintenance!.recordSent(to, messages, (Date.now() - startedMs) / 1000)
    } catch (e) {
      this.maintenance!.recordSendFailure(to)
      this.peerStubs.delete(member.id)
      throw e
    }
  }

  private failure(e: unknown): MemberFailure {
    if (e instanceof MemberError) {
      const leaderName = this.core ? this.nameOf(this.core.lead) : undefined
      return leaderName === undefined
        ? { ok: false, etcdError: e.etcdError }
        : { ok: false, etcdError: e.etcdError, leaderName }
    }
    throw e
  }
}
