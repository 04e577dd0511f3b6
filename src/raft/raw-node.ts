// RawNode: the interface the member drives (etcd rawnode.go). Input goes in through tick(),
// step(), propose() and friends; output comes out as a Ready, which the caller must handle in
// order (persist → send → apply) and then acknowledge with advance().

import type { Config } from './config.ts'
import { resolveConfig } from './config.ts'
import { assert, ProposalDroppedError } from './errors.ts'
import type { Message } from './messages.ts'
import { isLocalMsg, isResponseMsg, newMessage } from './messages.ts'
import type { ProgressState } from './progress.ts'
import { Raft } from './raft.ts'
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  NodeId,
  Ready,
  SoftState,
  StateType,
} from './types.ts'
import { emptyHardState, isEmptyHardState, isHardStateEqual, NONE } from './types.ts'

/** What the leader knows about one member's replication (for status and dashboards). */
export interface ProgressStatus {
  match: number
  next: number
  state: ProgressState
  isLearner: boolean
  recentActive: boolean
  paused: boolean
  inflight: number
}

/** A read-only snapshot of a node's raft state. Plain data. */
export interface Status {
  id: NodeId
  term: number
  vote: NodeId
  commit: number
  /** The known leader of the current term, or NONE (''). */
  lead: NodeId
  state: StateType
  applied: number
  leadTransferee: NodeId
  config: ConfState
  /** Per-member progress, only when this node is the leader. */
  progress?: Record<NodeId, ProgressStatus>
}

/** Outcome of sending a snapshot, reported back with `reportSnapshot`. */
export type SnapshotStatus = 'finish' | 'failure'

/**
 * A raft node without concurrency: the caller serializes every call (a Durable Object does).
 *
 * Proposal semantics: on the leader `propose` appends; on a follower it forwards a MsgProp to
 * the known leader (delivery is not guaranteed: wait for the entry to be applied, with a
 * timeout); with no known leader, or during a leadership transfer, it throws
 * `ProposalDroppedError`. `readIndex` behaves the same way.
 */
export class RawNode {
  readonly raft: Raft
  private prevSoftState: SoftState
  private prevHardState: HardState
  private pendingReady: Ready | undefined

  constructor(config: Config) {
    const c = resolveConfig(config)
    this.raft = new Raft(c)
    this.prevSoftState = this.raft.softState()
    this.prevHardState = this.raft.hardState()
    if (c.peers.length > 0 || c.learners.length > 0) this.maybeBootstrap(c.peers, c.learners)
  }

  /**
   * First start of a new cluster (etcd RawNode.Bootstrap): when storage is empty, write one
   * conf-change entry per initial member at term 1 and treat them as committed. They appear in
   * the first Ready as entries to persist and committedEntries to apply (call applyConfChange
   * for each, as for any conf change). Ignored when storage already holds state.
   */
  private maybeBootstrap(peers: NodeId[], learners: NodeId[]): void {
    const r = this.raft
    const storage = r.raftLog.storage
    if (storage.lastIndex() !== 0 || !isEmptyHardState(storage.initialState().hardState)) return
    assert(r.raftLog.lastIndex() === 0, 'bootstrap on a non-empty log')
    // Nothing is persisted yet: start from an empty hard state so the first Ready carries one.
    this.prevHardState = emptyHardState()
    r.becomeFollower(1, NONE)
    const ccs: ConfChange[] = [
      ...peers.map((nodeId): ConfChange => ({ type: 'addNode', nodeId })),
      ...learners.map((nodeId): ConfChange => ({ type: 'addLearner', nodeId })),
    ]
    const ents: Entry[] = ccs.map((cc, i) => ({
      term: 1,
      index: i + 1,
      type: 'confChange',
      data: JSON.stringify(cc),
    }))
    r.raftLog.append(ents)
    r.raftLog.committed = ents.length
    for (const cc of ccs) r.applyConfChange(cc)
  }

  /** Advances logical time by one tick (the shell calls this on a timer). */
  tick(): void {
    this.raft.tick()
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: 'MsgHup', from: this.raft.id }))
  }

  /**
   * Proposes `data` to be appended to the log. Throws ProposalDroppedError when it cannot be
   * accepted (no leader, transfer in progress, over the uncommitted limit).
   */
  propose(data: string): void {
    this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: 'normal', data }],
      }),
    )
  }

  /**
   * Proposes several entries at once (one MsgProp, one append, one replication round): the
   * cheap way to propose under load. Same errors as `propose`.
   */
  proposeMany(data: string[]): void {
    if (data.length === 0) return
    this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: data.map((d) => ({ term: 0, index: 0, type: 'normal' as const, data: d })),
      }),
    )
  }

  /**
   * Proposes a membership change. It takes effect when the entry is committed and the caller
   * calls `applyConfChange`. A second change proposed before the first is applied is replaced
   * by an empty entry by the leader (it never takes effect).
   */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(
      newMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: 'confChange', data: JSON.stringify(cc) }],
      }),
    )
  }

  /** Applies a committed conf change and returns the resulting membership (persist it). */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc)
  }

  /**
   * Feeds a message received from a peer. Local-only message types are rejected (assert);
   * responses from unknown members are ignored; a forwarded proposal that this node can no
   * longer accept is dropped silently (the proposer times out and retries).
   */
  step(m: Message): void {
    assert(!isLocalMsg(m.type), () => `cannot step raft local message ${m.type}`)
    if (
      isResponseMsg(m.type) &&
      !this.raft.trk.progress.has(m.from) &&
      this.raft.state === 'leader'
    ) {
      return
    }
    try {
      this.raft.step(m)
    } catch (e) {
      if (e instanceof ProposalDroppedError) {
        this.raft.logger.debug(`${this.raft.id} dropped ${m.type} from ${m.from}: ${e.reason}`)
        return
      }
      throw e
    }
  }

  /**
   * Requests a linearizable read. `ctx` must be unique across the cluster (e.g. member id +
   * counter). The answer arrives later as a ReadState in Ready.readStates; serve the read once
   * the local applied index reaches it. Throws ProposalDroppedError when there is no leader.
   * A request may be lost (leader change): time out and retry with a new ctx.
   */
  readIndex(ctx: string): void {
    this.raft.step(newMessage({ type: 'MsgReadIndex', from: this.raft.id, context: ctx }))
  }

  /** Asks the leader to hand leadership to `transferee` (thesis §3.10). */
  transferLeader(transferee: NodeId): void {
    this.raft.step(newMessage({ type: 'MsgTransferLeader', from: transferee }))
  }

  /** Tells the leader that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: 'MsgUnreachable', from: id }))
  }

  /** Tells the leader how sending a snapshot to `id` went. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: 'MsgSnapStatus', from: id, reject: status === 'failure' }))
  }

  /** Whether there is anything to persist, send or apply. */
  hasReady(): boolean {
    const r = this.raft
    const ss = r.softState()
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) return true
    const hs = r.hardState()
    if (!isEmptyHardState(hs) && !isHardStateEqual(hs, this.prevHardState)) return true
    if (r.raftLog.pendingSnapshot() !== undefined) return true
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0) return true
    if (r.raftLog.hasNextCommittedEnts()) return true
    return r.readStates.length > 0
  }

  /**
   * Returns the work to do. Call `advance()` once it has been handled, before the next
   * `ready()`. Messages and read states are handed out exactly once.
   */
  ready(): Ready {
    assert(this.pendingReady === undefined, 'ready() called again before advance()')
    const r = this.raft
    const entries = r.raftLog.unstableEntries().slice()
    const committedEntries = r.raftLog.nextCommittedEnts()
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages: r.msgs,
      mustSync: false,
    }
    const ss = r.softState()
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) {
      rd.softState = ss
      this.prevSoftState = ss
    }
    const hs = r.hardState()
    if (!isHardStateEqual(hs, this.prevHardState)) rd.hardState = hs
    const snap = r.raftLog.pendingSnapshot()
    if (snap) rd.snapshot = snap
    // Term and vote must be on disk before any message that depends on them is sent; so must
    // appended entries (paper Figure 2: "respond after updating stable storage").
    rd.mustSync =
      entries.length > 0 ||
      snap !== undefined ||
      (rd.hardState !== undefined &&
        (rd.hardState.term !== this.prevHardState.term ||
          rd.hardState.vote !== this.prevHardState.vote))
    r.msgs = []
    r.readStates = []
    r.reduceUncommittedSize(committedEntries)
    this.pendingReady = rd
    return rd
  }

  /** Acknowledges that the last Ready was persisted, sent and applied. */
  advance(): void {
    const rd = this.pendingReady
    assert(rd !== undefined, 'advance() without a pending ready()')
    this.pendingReady = undefined
    const r = this.raft
    if (rd.hardState) this.prevHardState = rd.hardState
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1]
    if (lastCommitted) r.raftLog.appliedTo(lastCommitted.index)
    else if (rd.snapshot) r.raftLog.appliedTo(rd.snapshot.metadata.index)
    const lastEntry = rd.entries[rd.entries.length - 1]
    if (lastEntry) r.raftLog.stableTo(lastEntry.index, lastEntry.term)
    if (rd.snapshot) r.raftLog.stableSnapTo(rd.snapshot.metadata.index)
  }

  /** The node's current state (plain data; `progress` only on the leader). */
  status(): Status {
    const r = this.raft
    const s: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      lead: r.lead,
      state: r.state,
      applied: r.raftLog.applied,
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
    }
    if (r.state === 'leader') {
      const progress: Record<NodeId, ProgressStatus> = {}
      for (const [id, pr] of r.trk.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          paused: pr.isPaused(),
          inflight: pr.inflights.count(),
        }
      }
      s.progress = progress
    }
    return s
  }
}
