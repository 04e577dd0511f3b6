// The Member Durable Object: one cluster member with its own SQLite database (Raft log + MVCC
// store). A thin shell: it starts up (migrations, identity), turns platform events (alarms, RPC
// from the front door and from peers) into calls on its MemberCore, and encodes the answers.
import { DurableObject } from 'cloudflare:workers'
import type { Message } from '../raft/index.ts'
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version.ts'
import { readClusterConfig, type ClusterConfig } from './config.ts'
import type { Env } from './env.ts'
import { clusterId, memberId, memberObjectName } from './identity.ts'
import { KvMachine, type KvReply, type KvRoute } from './kv-machine.ts'
import { MemberCore, MemberError } from './member-core.ts'
import { EventWaiters, type WaitEventsReply, type WaitEventsRequest } from './event-waiters.ts'
import { applyMigrations } from './migrations.ts'
import { WatchHub } from './watch-hub.ts'
import { serveHttpWatch, SocketWatches } from './watch-streams.ts'

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

/** One KV write for `writeBatch`. */
export interface KvWrite {
  route: KvRoute
  body: string
  requestId: string
}

/** One KV read for `readBatch`. */
export interface KvRead {
  route: KvRoute
  body: string
}

/** Test-only faults a member can be told to suffer (DEV_FAULTS). */
export type DevFault = 'isolate' | 'heal' | 'crash' | 'drop' | 'delay'

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
  private sockets: SocketWatches | undefined
  private eventWaiters: EventWaiters | undefined
  private lastProgressNotifyMs = Date.now()
  private tickTimer: ReturnType<typeof setTimeout> | undefined
  private readonly peerStubs = new Map<string, DurableObjectStub<Member>>()
  private readonly nameById: Map<string, string>
  /** Test-only: drop raft traffic (DEV_FAULTS). */
  private isolated = false
  private dropRate = 0
  private delayMs = 0

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.config = readClusterConfig(env as unknown as Record<string, unknown>)
    this.nameById = new Map(
      this.config.members.map((m) => [memberId(this.config.clusterName, m.name), m.name]),
    )
    void ctx.blockConcurrencyWhile(async () => {
      this.migrationsApplied = applyMigrations(ctx.storage)
      const name = this.storedName()
      if (name !== undefined) this.boot(name)
    })
  }

  // ---- RPC from the front door -------------------------------------------------------------

  /** Starts the member under `name` (idempotent) and keeps it ticking. */
  async start(name: string): Promise<MemberStatus> {
    this.ensureStarted(name)
    return this.status(name)
  }

  /** This member's identity and raft state. */
  async status(name: string): Promise<MemberStatus> {
    const core = this.ensureStarted(name)
    const raft = core.status()
    const leaderName = this.nameById.get(raft.lead)
    return {
      name,
      memberId: memberId(this.config.clusterName, name),
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
    const leaderName = this.nameById.get(core.lead)
    if (!core.isLeader && leaderName !== undefined) {
      // Forward to the leader in one hop: a follower would otherwise learn of the commit only
      // from the leader's next heartbeat. The caller learns the leader from the answer.
      return this.peer(leaderName).writeBatch(leaderName, writes)
    }
    let pending: Promise<{ value: unknown }>[]
    try {
      pending = core.propose(
        writes.map((w) => ({
          requestId: w.requestId,
          data: KvMachine.entry(w.requestId, w.route, w.body),
        })),
      )
    } catch (e) {
      return this.failure(e)
    }
    const settled = await Promise.allSettled(pending)
    return {
      leaderName: this.nameById.get(core.lead),
      results: settled.map((s) =>
        s.status === 'fulfilled' ? (s.value.value as KvReply) : this.failure(s.reason),
      ),
    }
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
    try {
      if (!serializable) await core.linearizableBarrier()
    } catch (e) {
      return this.failure(e)
    }
    return {
      leaderName: this.nameById.get(core.lead),
      results: reads.map((r) => this.machine!.read(r.route, r.body)),
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

  /** Raft messages from a peer. */
  async receive(name: string, messages: Message[]): Promise<void> {
    const core = this.ensureStarted(name)
    if (this.isolated) throw new Error('isolated by a test')
    core.receive(messages)
  }

  // ---- test-only fault injection (DESIGN.md §5; only when the DEV_FAULTS var is set) --------

  /**
   * `isolate`: drop all raft traffic to and from this member; `heal`: undo every fault;
   * `crash`: lose memory and restart from storage (the Durable Object is reset, SQLite is kept);
   * `drop`: lose each outgoing batch with probability `value` (0–1); `delay`: hold each
   * outgoing batch `value` ms (so batches also overtake each other: reordering).
   */
  async devFault(name: string, fault: DevFault, value = 0): Promise<void> {
    if (this.env.DEV_FAULTS !== 'true') throw new Error('fault injection is disabled')
    this.ensureStarted(name)
    if (fault === 'isolate') this.isolated = true
    if (fault === 'heal') {
      this.isolated = false
      this.dropRate = 0
      this.delayMs = 0
    }
    if (fault === 'drop') this.dropRate = value
    if (fault === 'delay') this.delayMs = value
    if (fault === 'crash') this.ctx.abort('crash injected by a test')
  }

  /** Test-only: HashKV of this member's store at its current revision (for agreement checks). */
  async devHashKv(name: string): Promise<{ hash: number; revision: number; appliedIndex: number }> {
    if (this.env.DEV_FAULTS !== 'true') throw new Error('fault injection is disabled')
    this.ensureStarted(name)
    const store = this.machine!.store
    return {
      hash: store.hashKV().hash,
      revision: store.currentRevision(),
      appliedIndex: store.appliedIndex(),
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
    if (!this.core) this.ensureBooted()
    await this.ctx.storage.setAlarm(Date.now() + KEEPALIVE_TICKS * this.config.heartbeatIntervalMs)
    this.startTicking()
  }

  private startTicking(): void {
    if (this.tickTimer !== undefined) return
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined
      this.tick()
      this.startTicking()
    }, this.config.heartbeatIntervalMs)
  }

  private tick(): void {
    this.core!.tick()
    const now = Date.now()
    if (now - this.lastProgressNotifyMs >= this.config.watchProgressNotifyIntervalMs) {
      this.lastProgressNotifyMs = now
      this.watches!.progressNotify()
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  private ensureStarted(name: string): MemberCore {
    if (this.core) {
      if (name !== this.name) throw new Error(`member ${this.name} was called as ${name}`)
      return this.core
    }
    const objectName = this.ctx.id.name
    if (
      objectName !== undefined &&
      objectName !== memberObjectName(this.config.clusterName, name)
    ) {
      throw new Error(`object ${objectName} is not member ${name}`)
    }
    if (!this.nameById.has(memberId(this.config.clusterName, name))) {
      throw new Error(`${name} is not a member of cluster ${this.config.clusterName}`)
    }
    this.ctx.storage.sql.exec(
      'INSERT OR IGNORE INTO member_identity (id, cluster_name, member_name, member_id, cluster_id, created_at_ms) ' +
        'VALUES (1, ?, ?, ?, ?, ?)',
      this.config.clusterName,
      name,
      memberId(this.config.clusterName, name),
      clusterId(this.config.clusterName),
      Date.now(),
    )
    return this.boot(name)
  }

  /** After hibernation the object wakes for a socket event: boot from the stored identity. */
  private ensureBooted(): void {
    if (this.core) return
    const name = this.storedName()
    if (name === undefined) throw new Error('member woke before it was ever started')
    this.boot(name)
  }

  private storedName(): string | undefined {
    const row = this.ctx.storage.sql
      .exec('SELECT member_name FROM member_identity WHERE id = 1')
      .toArray()[0] as { member_name: string } | undefined
    return row?.member_name
  }

  private boot(name: string): MemberCore {
    this.name = name
    const id = memberId(this.config.clusterName, name)
    const storage = this.ctx.storage
    this.machine = new KvMachine(storage.sql, {
      clusterId: clusterId(this.config.clusterName),
      memberId: id,
      raftTerm: () => this.core?.status().term ?? 0,
      maxTxnOps: this.config.maxTxnOps,
      maxRequestBytes: this.config.maxRequestBytes,
      transaction: (fn) => storage.transactionSync(fn),
    })
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
    this.sockets = new SocketWatches(this.watches)
    this.eventWaiters = new EventWaiters(this.machine.store, header)
    for (const ws of this.ctx.getWebSockets()) this.sockets.streamOf(ws)
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!
    this.core = new MemberCore(
      storage.sql,
      (fn) => storage.transactionSync(fn),
      this.machine,
      (to, messages) => this.deliver(to, messages),
      {
        id,
        initialVoters: [...this.nameById.keys()],
        electionTicks: Math.round(this.config.electionTimeoutMs / this.config.heartbeatIntervalMs),
        snapshotCount: this.config.snapshotCount,
        requestTimeoutMs: REQUEST_TIMEOUT_EXTRA_MS + 2 * this.config.electionTimeoutMs,
        randomSeed: seed,
        afterApply: () => {
          this.watches!.notify()
          this.eventWaiters!.notify()
          this.sockets!.persistAll()
        },
      },
    )
    void this.ensureAlarm()
    this.startTicking()
    return this.core
  }

  private async ensureAlarm(): Promise<void> {
    const alarm = await this.ctx.storage.getAlarm()
    if (alarm === null)
      await this.ctx.storage.setAlarm(Date.now() + this.config.heartbeatIntervalMs)
  }

  /** A stub for a peer, reused until a call through it throws. */
  private peer(name: string): DurableObjectStub<Member> {
    let stub = this.peerStubs.get(name)
    if (!stub) {
      stub = this.env.MEMBER.get(
        this.env.MEMBER.idFromName(memberObjectName(this.config.clusterName, name)),
      )
      this.peerStubs.set(name, stub)
    }
    return stub
  }

  /** Sends a batch of raft messages to a peer. A stub that threw is replaced before the next call. */
  private async deliver(to: string, messages: Message[]): Promise<void> {
    const name = this.nameById.get(to)
    if (name === undefined) return
    if (this.isolated) throw new Error('isolated by a test')
    // Test-only faults (DEV_FAULTS): randomness and time are fine here, in the shell.
    if (this.dropRate > 0 && Math.random() < this.dropRate) throw new Error('dropped by a test')
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs * Math.random()))
    try {
      await this.peer(name).receive(name, messages)
    } catch (e) {
      this.peerStubs.delete(name)
      throw e
    }
  }

  private failure(e: unknown): MemberFailure {
    if (e instanceof MemberError) {
      const leaderName = this.core ? this.nameById.get(this.core.lead) : undefined
      return leaderName === undefined
        ? { ok: false, etcdError: e.etcdError }
        : { ok: false, etcdError: e.etcdError, leaderName }
    }
    throw e
  }
}
