// The member's raft node and everything wired to it: storage, the Ready loop, the transport,
// and the clients waiting on it. The Durable Object class (member.ts) only forwards its events
// here; this file has no Durable Object API beyond the storage it is handed.
import { ProposalDroppedError, RawNode, Xoshiro128 } from '../raft/index.ts'
import type { ConfChange, Message, ReadState, SoftState } from '../raft/index.ts'
import { NONE } from '../raft/types.ts'
import type { Sql } from '../mvcc/sql.ts'
import { ReadyLoop } from './ready-loop.ts'
import { SqlRaftStorage } from './raft-storage.ts'
import type { ApplyResult, StateMachine } from './state-machine.ts'
import { Transport, type Deliver } from './transport.ts'
import { Waiters } from './waiters.ts'

/** An error a member raises for its caller: the name of an etcd error (src/api/errors.ts). */
export class MemberError extends Error {
  constructor(readonly etcdError: 'NoLeader' | 'Timeout' | 'LeaderChanged' | 'Stopped') {
    super(etcdError)
  }
}

/**
 * Read-index rounds in flight at once. A round lasts a heartbeat round trip to the followers
 * (their calls wait for the runtime); with one at a time, linearizable reads left the thread
 * idle between rounds. Reads arriving while all are busy share the next round.
 */
const MAX_READ_ROUNDS = 2

/** Tunables of a member's raft node, from the cluster config. */
export interface MemberCoreOptions {
  id: string
  /** Every member of the initial cluster, in INITIAL_CLUSTER order (bootstrap only). */
  initialVoters: string[]
  electionTicks: number
  snapshotCount: number
  requestTimeoutMs: number
  randomSeed: number
  /** Called after entries were applied (watchers deliver new events). */
  afterApply?: () => void
  /** Called when the leader this member knows changes ('' = none): metrics count it. */
  onLeaderChange?: (lead: string) => void
}

/** A running member. */
export class MemberCore {
  readonly storage: SqlRaftStorage
  private readonly node: RawNode
  private readonly loop: ReadyLoop
  private readonly transport: Transport
  private readonly proposals = new Waiters<ApplyResult>()
  private readonly reads = new Waiters<number>()
  /** Confirmed read indexes waiting for the state machine to catch up: ctx → index. */
  private readonly readIndexes = new Map<string, number>()
  private softState: SoftState = { lead: NONE, state: 'follower' }
  private nextCtx = 0
  private runScheduled = false
  private stopped = false
  /** The read-index round in flight, and the one that reads arriving during it will share. */
  private readRounds = 0
  private nextReadRound: Promise<void> | undefined
  private startNextReadRound: (() => void) | undefined
  /** When a batch of messages to each peer was last delivered (etcd's transport ActiveSince). */
  private readonly lastContactMs = new Map<string, number>()

  constructor(
    sql: Sql,
    transaction: <T>(fn: () => T) => T,
    private readonly machine: StateMachine,
    deliver: Deliver,
    private readonly options: MemberCoreOptions,
  ) {
    this.storage = new SqlRaftStorage(sql, { currentSnapshot: () => this.currentSnapshot() })
    const fresh = this.storage.lastIndex() === 0
    this.node = new RawNode({
      id: options.id,
      peers: fresh ? options.initialVoters : undefined,
      electionTicks: options.electionTicks,
      heartbeatTicks: 1,
      storage: this.storage,
      applied: machine.appliedIndex(),
      rng: new Xoshiro128(options.randomSeed),
    })
    this.transport = new Transport(deliver, (to, messages, ok) => {
      // Raft must hear how a snapshot send ended, or it keeps the follower paused waiting.
      const snapshot = messages.some((m) => m.type === 'MsgSnap')
      if (ok) this.lastContactMs.set(to, Date.now())
      if (!ok) this.node.reportUnreachable(to)
      if (snapshot) this.node.reportSnapshot(to, ok ? 'finish' : 'failure')
      if (!ok || snapshot) this.run()
    })
    this.loop = new ReadyLoop({
      node: this.node,
      storage: this.storage,
      machine,
      transaction,
      send: (messages) => this.transport.send(messages),
      onApplied: (results) => {
        for (const r of results) this.proposals.resolve(r.requestId, r)
      },
      onReadStates: (readStates, applied) => this.onReadStates(readStates, applied),
      onSoftState: (ss) => this.onSoftState(ss),
      afterApply: () => this.options.afterApply?.(),
      snapshotCount: options.snapshotCount,
      catchUpEntries: Math.min(5000, options.snapshotCount),
    })
    this.run()
  }

  /**
   * Stops this core for good: nothing it still has scheduled (a group-commit run, a transport
   * callback) touches storage afterwards, and its waiters fail so callers retry. Used when the
   * member retires or reboots on the same storage (force-new-cluster).
   */
  stop(): void {
    this.stopped = true
    this.proposals.rejectAll(() => new MemberError('Stopped'))
    this.reads.rejectAll(() => new MemberError('Stopped'))
  }

  private run(): void {
    if (!this.stopped) this.loop.run()
  }

  /** One heartbeat interval passed. */
  tick(): void {
    this.node.tick()
    this.run()
  }

  /** Messages from a peer. */
  receive(messages: Message[]): void {
    for (const m of messages) {
      try {
        this.node.step(m)
      } catch (e) {
        // A message for a node we no longer know, or stale: raft drops it; anything else is fatal.
        if (!(e instanceof ProposalDroppedError)) throw e
      }
    }
    this.run()
  }

  /**
   * Group commit for proposals: a proposal only feeds the node, and the Ready loop runs once
   * for every proposal that arrived meanwhile (or sooner, with the next tick, peer message or
   * read). Each run that persists is one SQLite transaction, a disk sync that blocks the
   * runtime; one per proposal made the sync rate the write ceiling. Reads and peer messages run
   * the loop at once: deferring them only adds latency.
   */
  private scheduleRun(): void {
    if (this.runScheduled) return
    this.runScheduled = true
    setTimeout(() => {
      this.runScheduled = false
      this.run()
    }, 0)
  }

  /** The node's role and leader as last reported. */
  get lead(): string {
    return this.softState.lead
  }

  get isLeader(): boolean {
    return this.softState.state === 'leader'
  }

  status() {
    return this.node.status()
  }

  /** Asks raft to hand leadership to `transferee` (the leader does it; thesis §3.10). */
  transferLeader(transferee: string): void {
    this.node.transferLeader(transferee)
    this.run()
  }

  /**
   * Proposes entries (one per request, all in one Ready: group commit) and returns one promise
   * per request, settled when its entry is applied here. Followers forward to the leader (raft
   * MsgProp); without a known leader this throws MemberError('NoLeader') and proposes nothing.
   */
  propose(
    requests: { requestId: string; data: string }[],
    timeoutMs = this.options.requestTimeoutMs,
  ): Promise<ApplyResult>[] {
    if (this.softState.lead === NONE) throw new MemberError('NoLeader')
    try {
      // All or none: the node's role cannot change between these synchronous calls.
      for (const r of requests) this.node.propose(r.data)
    } catch (e) {
      if (e instanceof ProposalDroppedError) throw new MemberError('NoLeader')
      throw e
    }
    // Waiters are registered before the loop runs, so no apply can be missed.
    const waits = requests.map((r) =>
      this.proposals.wait(r.requestId, timeoutMs, () => new MemberError('Timeout')),
    )
    this.scheduleRun()
    return waits
  }

  /**
   * Proposes one membership change (the leader keeps one in flight at a time, thesis §4.1);
   * resolves when it is applied here. Its context carries the request id (MemberChangeContext).
   */
  proposeConfChange(requestId: string, cc: ConfChange): Promise<ApplyResult> {
    if (this.softState.lead === NONE) throw new MemberError('NoLeader')
    try {
      this.node.proposeConfChange(cc)
    } catch (e) {
      if (e instanceof ProposalDroppedError) throw new MemberError('NoLeader')
      throw e
    }
    const wait = this.proposals.wait(
      requestId,
      this.options.requestTimeoutMs,
      () => new MemberError('Timeout'),
    )
    this.run()
    return wait
  }

  /** Whether a message batch to `peer` was delivered within the last `withinMs`. */
  activeSince(peer: string, withinMs: number): boolean {
    return Date.now() - (this.lastContactMs.get(peer) ?? 0) <= withinMs
  }

  /**
   * Waits until a read at this member is linearizable (raft ReadIndex, Raft thesis §6.4):
   * resolves once the state machine has applied the confirmed read index. Reads share rounds
   * (etcd's linearizableReadLoop): a read that arrives while a round is in flight cannot use
   * it (the round was issued before the read). It starts a round of its own if fewer than
   * MAX_READ_ROUNDS are in flight, else it joins the next one, which starts as soon as one of
   * them ends; one round serves every read waiting on it.
   */
  linearizableBarrier(): Promise<void> {
    if (this.softState.lead === NONE) return Promise.reject(new MemberError('NoLeader'))
    if (this.readRounds < MAX_READ_ROUNDS && !this.nextReadRound) {
      this.readRounds++
      return this.readIndexRound().finally(() => {
        this.readRounds--
        this.startNextReadRound?.()
      })
    }
    this.nextReadRound ??= new Promise<void>((resolve) => {
      this.startNextReadRound = resolve
    }).then(() => {
      this.nextReadRound = undefined
      this.startNextReadRound = undefined
      return this.linearizableBarrier()
    })
    return this.nextReadRound
  }

  private async readIndexRound(): Promise<void> {
    const ctx = `${this.options.id}/${this.nextCtx++}`
    const done = this.reads.wait(
      ctx,
      this.options.requestTimeoutMs,
      () => new MemberError('Timeout'),
    )
    try {
      this.node.readIndex(ctx)
    } catch (e) {
      this.reads.resolve(ctx, 0)
      if (e instanceof ProposalDroppedError) throw new MemberError('NoLeader')
      throw e
    }
    this.run()
    await done
  }

  private onReadStates(readStates: ReadState[], applied: number): void {
    for (const rs of readStates) this.readIndexes.set(rs.ctx, rs.index)
    for (const [ctx, index] of this.readIndexes) {
      if (index > applied) continue
      this.readIndexes.delete(ctx)
      this.reads.resolve(ctx, index)
    }
  }

  private onSoftState(ss: SoftState): void {
    const previous = this.softState
    this.softState = ss
    // A leader that steps down cannot know whether its pending proposals will commit.
    if (previous.state === 'leader' && ss.state !== 'leader') {
      this.proposals.rejectAll(() => new MemberError('LeaderChanged'))
    }
    // Read-index requests in flight die with the leader that was asked: fail them now so the
    // client retries elsewhere instead of waiting for the timeout.
    if (previous.lead !== ss.lead) {
      this.options.onLeaderChange?.(ss.lead)
      this.readIndexes.clear()
      this.reads.rejectAll(() => new MemberError('LeaderChanged'))
    }
  }

  private currentSnapshot() {
    const index = this.machine.appliedIndex()
    return {
      metadata: {
        index,
        term: this.storage.term(index),
        confState: this.storage.currentConfState(),
      },
      data: this.machine.dump(),
    }
  }
}
