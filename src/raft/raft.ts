// The raft state machine (etcd raft.go). It consumes messages and ticks and produces messages,
// log entries and state changes; it performs no I/O. RawNode wraps it with the Ready/advance
// protocol. References: Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm" (the paper, Figure 2) and Ongaro's PhD thesis "Consensus: Bridging Theory and
// Practice" (the thesis).

import type { Logger, ResolvedConfig, UnsafeTestingKnobs } from './config.ts'
import {
  assert,
  assertNever,
  CompactedError,
  ProposalDroppedError,
  SnapshotTemporarilyUnavailableError,
} from './errors.ts'
import { RaftLog } from './log.ts'
import type { Message, MessageType } from './messages.ts'
import { CAMPAIGN_TRANSFER, newMessage, voteRespMsgType } from './messages.ts'
import type { Progress } from './progress.ts'
import { ReadOnly } from './read-only.ts'
import type { Rng } from './rng.ts'
import { ProgressTracker } from './tracker.ts'
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  NodeId,
  ReadState,
  Snapshot,
  SoftState,
  StateType,
} from './types.ts'
import { NONE } from './types.ts'

type CampaignType = 'preElection' | 'election' | 'transfer'

/** The raft protocol state of one node. Use through RawNode. */
export class Raft {
  readonly id: NodeId
  term = 0
  vote: NodeId = NONE
  readStates: ReadState[] = []
  readonly raftLog: RaftLog
  readonly trk: ProgressTracker
  state: StateType = 'follower'
  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = []
  /** The leader of the current term, if known. */
  lead: NodeId = NONE
  /** The node leadership is being transferred to, if any. */
  leadTransferee: NodeId = NONE
  /**
   * The index of the latest conf change in the log. The leader refuses another conf change until
   * this is applied (one change at a time; thesis §4.1).
   */
  pendingConfIndex = 0
  /** Bytes of uncommitted entries appended by this leader. */
  uncommittedSize = 0
  readonly readOnly = new ReadOnly()
  /** MsgReadIndex requests held until this leader commits an entry of its term (thesis §6.4). */
  pendingReadIndexMessages: Message[] = []

  /** Leader/candidate/follower: ticks since the last election timeout reset. */
  electionElapsed = 0
  /** Leader: ticks since the last heartbeat. */
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0

  readonly electionTimeout: number
  readonly heartbeatTimeout: number
  readonly maxMsgSize: number
  readonly maxUncommittedSize: number
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly disableProposalForwarding: boolean
  private readonly rng: Rng
  readonly logger: Logger
  private readonly knobs: UnsafeTestingKnobs

  constructor(c: ResolvedConfig) {
    this.id = c.id
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady)
    const { hardState, confState } = c.storage.initialState()
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes)
    this.electionTimeout = c.electionTicks
    this.heartbeatTimeout = c.heartbeatTicks
    this.maxMsgSize = c.maxSizePerMsg
    this.maxUncommittedSize = c.maxUncommittedEntriesSize
    this.checkQuorum = c.checkQuorum
    this.preVote = c.preVote
    this.disableProposalForwarding = c.disableProposalForwarding
    this.rng = c.rng
    this.logger = c.logger
    this.knobs = c.unsafeTestingKnobs

    this.restoreConfState(confState)
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      this.loadState(hardState)
    }
    if (c.applied > 0) this.raftLog.appliedTo(c.applied)
    this.becomeFollower(this.term, NONE)
  }

  // ---- accessors ------------------------------------------------------------------------

  softState(): SoftState {
    return { lead: this.lead, state: this.state }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  /** Whether this node may campaign: it is a voter and is not installing a snapshot. */
  promotable(): boolean {
    return this.trk.isVoter(this.id) && this.raftLog.pendingSnapshot() === undefined
  }

  private loadState(hs: HardState): void {
    assert(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      () =>
        `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    )
    this.raftLog.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  // ---- sending ----------------------------------------------------------------------------

  /**
   * Queues a message. Vote messages carry an explicit term; MsgProp and MsgReadIndex travel with
   * term 0 (they are not part of the term protocol); everything else gets our term.
   */
  send(m: Message): void {
    if (m.from === NONE) m.from = this.id
    const t = m.type
    if (t === 'MsgVote' || t === 'MsgVoteResp' || t === 'MsgPreVote' || t === 'MsgPreVoteResp') {
      assert(m.term !== 0, () => `term should be set when sending ${t}`)
    } else {
      assert(m.term === 0, () => `term should not be set when sending ${t} (was ${m.term})`)
      if (t !== 'MsgProp' && t !== 'MsgReadIndex') m.term = this.term
    }
    this.msgs.push(m)
  }

  /** Sends a MsgApp with new entries (or a snapshot) to `to`, if its progress allows. */
  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  /**
   * Sends one MsgApp to `to` if it is not paused; returns whether a message was sent. With
   * `sendIfEmpty` false, only sends if there are entries to send. Falls back to MsgSnap when the
   * needed entries are compacted.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    if (!pr || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.raftLog.termOrUndefined(prevIndex)
    if (prevTerm === undefined || prevIndex < this.raftLog.firstIndex() - 1) {
      return this.maybeSendSnapshot(to, pr)
    }
    let ents: Entry[] = []
    // A throttled replicate stream only sends empty MsgApps so a lost window still recovers.
    if (pr.state !== 'replicate' || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize)
      } catch (e) {
        // Compacted meanwhile: the follower needs a snapshot.
        if (e instanceof CompactedError) return this.maybeSendSnapshot(to, pr)
        throw e
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false
    this.send(
      newMessage({
        type: 'MsgApp',
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.raftLog.committed,
      }),
    )
    pr.sentEntries(ents.length, payloadsSize(ents))
    return true
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false
    let snapshot: Snapshot
    try {
      snapshot = this.raftLog.snapshot()
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false
      throw e
    }
    assert(snapshot.metadata.index > 0, 'need non-empty snapshot')
    pr.becomeSnapshot(snapshot.metadata.index)
    this.send(newMessage({ type: 'MsgSnap', to, snapshot }))
    return true
  }

  /**
   * Heartbeats carry min(match, committed): a follower may not have the leader's whole log, and
   * must never commit past what it holds (etcd sendHeartbeat).
   */
  private sendHeartbeat(to: NodeId, ctx: string | undefined): void {
    const pr = this.trk.progress.get(to)
    const commit = Math.min(pr ? pr.match : 0, this.raftLog.committed)
    const m = newMessage({ type: 'MsgHeartbeat', to, commit })
    if (ctx !== undefined) m.context = ctx
    this.send(m)
  }

  /** Sends MsgApp to every other member. */
  bcastAppend(): void {
    for (const id of this.trk.members()) if (id !== this.id) this.sendAppend(id)
  }

  /** Sends heartbeats to every other member, carrying the newest pending read ctx. */
  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx())
  }

  private bcastHeartbeatWithCtx(ctx: string | undefined): void {
    for (const id of this.trk.members()) if (id !== this.id) this.sendHeartbeat(id, ctx)
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: 'MsgTimeoutNow', to }))
  }

  // ---- commit -----------------------------------------------------------------------------

  /**
   * Advances commit to the index a majority has replicated — only if that entry is from the
   * current term (paper §5.4.2, Figure 8). Returns whether commit moved.
   */
  maybeCommit(): boolean {
    const mci = this.trk.committed()
    if (this.knobs.commitPreviousTerm) {
      const idx = Math.min(mci, this.raftLog.lastIndex())
      if (idx > this.raftLog.committed) {
        this.raftLog.commitTo(idx)
        return true
      }
      return false
    }
    return this.raftLog.maybeCommit(mci, this.term)
  }

  // ---- role changes -----------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const last = this.raftLog.lastIndex()
    // Nothing is known about followers in a new term: probe everyone from our last index.
    for (const [id, pr] of this.trk.progress) pr.resetTo(id === this.id ? last : 0, last + 1)
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.readOnly.reset()
    this.pendingReadIndexMessages = []
  }

  /** Becomes a follower of `lead` (NONE if unknown) at `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term)
    this.lead = lead
    this.state = 'follower'
    this.logger.info(`${this.id} became follower at term ${this.term}`)
  }

  /** Pre-vote phase (thesis §9.6): ask whether we could win, without bumping the term. */
  becomePreCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition [leader -> pre-candidate]')
    this.trk.resetVotes()
    this.lead = NONE
    this.state = 'preCandidate'
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`)
  }

  /** Starts an election (paper §5.2): new term, vote for ourselves. */
  becomeCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = 'candidate'
    this.logger.info(`${this.id} became candidate at term ${this.term}`)
  }

  /**
   * Becomes leader and appends an empty entry of the new term: committing it commits every
   * earlier entry (paper §8) and enables ReadIndex (thesis §6.4).
   */
  becomeLeader(): void {
    assert(this.state !== 'follower', 'invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.state = 'leader'
    this.trk.progress.get(this.id)?.becomeReplicate()
    const ok = this.appendEntry([{ term: 0, index: 0, type: 'normal', data: '' }])
    assert(ok, 'empty entry was dropped')
    // Forbid conf changes until everything up to and including our no-op is applied: a pending
    // change may sit in the uncommitted tail, and a new leader must commit an entry of its own
    // term before changing membership (Ongaro, raft-dev 2015, the single-server-change bug fix;
    // etcd stops at the entry before the no-op, we include it).
    this.pendingConfIndex = this.raftLog.lastIndex()
    this.logger.info(`${this.id} became leader at term ${this.term}`)
  }

  private resetRandomizedElectionTimeout(): void {
    // Paper §5.2: randomized timeouts in [electionTimeout, 2*electionTimeout) split votes rarely.
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(this.electionTimeout)
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE
  }

  // ---- proposals --------------------------------------------------------------------------

  /** Leader: assigns term/index to entries and appends them. False if over the size limit. */
  appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex()
    const stamped = es.map((e, i) => ({ ...e, term: this.term, index: li + 1 + i }))
    if (!this.increaseUncommittedSize(stamped)) return false
    li = this.raftLog.append(stamped)
    // The leader counts itself: its entries reach storage before any MsgApp is sent (Ready
    // contract), and a follower can only ack what was sent.
    this.trk.progress.get(this.id)?.maybeUpdate(li)
    this.maybeCommit()
    return true
  }

  private increaseUncommittedSize(ents: Entry[]): boolean {
    const s = payloadsSize(ents)
    if (
      this.uncommittedSize > 0 &&
      s > 0 &&
      this.maxUncommittedSize > 0 &&
      this.uncommittedSize + s > this.maxUncommittedSize
    ) {
      return false
    }
    this.uncommittedSize += s
    return true
  }

  /** Called as committed entries are handed out for applying. */
  reduceUncommittedSize(ents: Entry[]): void {
    if (this.uncommittedSize === 0) return
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadsSize(ents))
  }

  // ---- ticks ------------------------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat()
    else this.tickElection()
  }

  /** Followers and candidates: campaign when the randomized election timeout passes. */
  private tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.step(newMessage({ type: 'MsgHup', from: this.id }))
    }
  }

  /** Leader: heartbeat every heartbeatTimeout; check quorum every electionTimeout. */
  private tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) this.step(newMessage({ type: 'MsgCheckQuorum', from: this.id }))
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer()
    }
    if (this.state !== 'leader') return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.step(newMessage({ type: 'MsgBeat', from: this.id }))
    }
  }

  // ---- elections --------------------------------------------------------------------------

  /** Whether committed-but-unapplied entries contain a conf change (then we must not campaign). */
  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex())
    const ents = this.raftLog.slice(lo, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER)
    return ents.some((e) => e.type === 'confChange')
  }

  private hup(t: CampaignType): void {
    if (this.state === 'leader') return
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`)
      return
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term}: pending conf changes`)
      return
    }
    this.campaign(t)
  }

  /** Starts a (pre-)election: ask every voter for its vote. */
  campaign(t: CampaignType): void {
    let term: number
    let voteMsg: 'MsgVote' | 'MsgPreVote'
    if (t === 'preElection') {
      this.becomePreCandidate()
      voteMsg = 'MsgPreVote'
      // Pre-vote asks about the next term without moving to it.
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteMsg = 'MsgVote'
      term = this.term
    }
    if (this.poll(this.id, voteRespMsgType(voteMsg), true) === 'won') {
      // A single-voter cluster wins at once.
      if (t === 'preElection') this.campaign('election')
      else this.becomeLeader()
      return
    }
    for (const id of this.trk.voters) {
      if (id === this.id) continue
      const m = newMessage({
        type: voteMsg,
        to: id,
        term,
        index: this.raftLog.lastIndex(),
        logTerm: this.raftLog.lastTerm(),
      })
      if (t === 'transfer') m.context = CAMPAIGN_TRANSFER
      this.send(m)
    }
  }

  private poll(id: NodeId, t: MessageType, granted: boolean): 'pending' | 'lost' | 'won' {
    this.logger.debug(
      `${this.id} received ${t} ${granted ? '' : 'rejection '}from ${id} at term ${this.term}`,
    )
    this.trk.recordVote(id, granted)
    return this.trk.tallyVotes().result
  }

  // ---- step -------------------------------------------------------------------------------

  /**
   * Processes one message (paper Figure 2 "Rules for Servers"). Throws ProposalDroppedError for
   * proposals and reads that cannot be accepted.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message (or a term-less MsgProp/MsgReadIndex).
    } else if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return
    } else if (m.term < this.term) {
      this.stepLowerTerm(m)
      return
    }

    switch (m.type) {
      case 'MsgHup':
        this.hup(this.preVote ? 'preElection' : 'election')
        return
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m)
        return
      default:
        this.stepByState(m)
    }
  }

  /** A message from a higher term. Returns false if it must be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      const force = m.context === CAMPAIGN_TRANSFER
      // Thesis §4.2.3 / §9.6: while we heard from a leader within the election timeout (our
      // "lease"), ignore vote requests so a partitioned node rejoining cannot depose it.
      const inLease =
        this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout
      if (!force && inLease) {
        this.logger.info(
          `${this.id} ignored ${m.type} from ${m.from} at term ${m.term}: lease not expired`,
        )
        return false
      }
    }
    if (m.type === 'MsgPreVote') {
      // Never change our term in response to a pre-vote.
    } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
      // Pre-vote grants carry the future term we asked about; the term moves only when we
      // actually campaign.
    } else {
      const leaderMsg = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap'
      this.becomeFollower(m.term, leaderMsg ? m.from : NONE)
    }
    return true
  }

  private stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
      // A stale leader may be cut off from a quorum that moved on. Tell it our term so it steps
      // down; otherwise, with check-quorum/pre-vote, it could never learn of the new term.
      this.send(newMessage({ type: 'MsgAppResp', to: m.from }))
    } else if (m.type === 'MsgPreVote') {
      // Reject with our term so the pre-candidate catches up (etcd: avoids a stuck pre-vote).
      this.send(newMessage({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true }))
    }
    // Everything else from an old term is ignored.
  }

  /** Paper Figure 2, RequestVote receiver; thesis §9.6 for pre-vote. */
  private handleVoteRequest(m: Message): void {
    assert(m.type === 'MsgVote' || m.type === 'MsgPreVote', 'not a vote request')
    const canVote =
      // A repeat of the vote we already cast...
      this.vote === m.from ||
      // ...we have not voted and know of no leader in this term...
      (this.vote === NONE && this.lead === NONE) ||
      // ...or a pre-vote for a future term...
      (m.type === 'MsgPreVote' && m.term > this.term) ||
      // (test-only bug: vote twice in one term)
      (this.knobs.doubleVote === true && m.type === 'MsgVote' && this.state !== 'leader')
    // ...and the candidate's log is at least as up to date as ours (§5.4.1).
    const upToDate =
      this.knobs.ignoreLogInVote === true || this.raftLog.isUpToDate(m.index, m.logTerm)
    if (canVote && upToDate) {
      this.send(newMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }))
      if (m.type === 'MsgVote') {
        // Only real votes are recorded (and reset the election timer).
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.send(
        newMessage({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true }),
      )
    }
  }

  private stepByState(m: Message): void {
    switch (this.state) {
      case 'leader':
        this.stepLeader(m)
        return
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m)
        return
      case 'follower':
        this.stepFollower(m)
        return
      default:
        assertNever(this.state, 'state')
    }
  }

  // ---- leader -----------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat()
        return
      case 'MsgCheckQuorum':
        this.stepCheckQuorum()
        return
      case 'MsgProp':
        this.stepLeaderProp(m)
        return
      case 'MsgReadIndex':
        this.stepLeaderReadIndex(m)
        return
      default:
        break
    }
    // Everything else needs the sender's progress.
    const pr = this.trk.progress.get(m.from)
    if (!pr) return
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m, pr)
        return
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m, pr)
        return
      case 'MsgSnapStatus':
        if (pr.state !== 'snapshot') return
        this.snapshotDone(pr, m.reject)
        return
      case 'MsgUnreachable':
        // In replicate state a MsgApp was likely lost: fall back to probing. In snapshot state
        // the snapshot itself may be lost: treat it as a failed send (our addition to etcd).
        if (pr.state === 'replicate') pr.becomeProbe()
        else if (pr.state === 'snapshot') this.snapshotDone(pr, true)
        return
      case 'MsgTransferLeader':
        this.stepLeaderTransfer(m, pr)
        return
      default:
        return
    }
  }

  /** Check-quorum (thesis §6.2): step down if a majority was not heard from in a timeout. */
  private stepCheckQuorum(): void {
    if (!this.trk.quorumActive(this.id)) {
      this.logger.warn(`${this.id} stepped down to follower since quorum is not active`)
      this.becomeFollower(this.term, NONE)
    }
    for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false
  }

  private stepLeaderProp(m: Message): void {
    assert(m.entries.length > 0, `${this.id} stepped empty MsgProp`)
    if (!this.trk.progress.has(this.id)) {
      // We were removed from the configuration while leader.
      throw new ProposalDroppedError('leader was removed from the configuration')
    }
    if (this.leadTransferee !== NONE) {
      throw new ProposalDroppedError(`leadership transfer to ${this.leadTransferee} in progress`)
    }
    const ents = m.entries.map((e, i) => {
      if (e.type !== 'confChange') return e
      // One conf change at a time (thesis §4.1): a new one waits until the previous is applied.
      if (this.pendingConfIndex > this.raftLog.applied) {
        this.logger.info(`${this.id} ignoring conf change: previous change not yet applied`)
        return { ...e, type: 'normal' as const, data: '' }
      }
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1
      return e
    })
    if (!this.appendEntry(ents)) throw new ProposalDroppedError('too many uncommitted entries')
    this.bcastAppend()
  }

  private stepLeaderReadIndex(m: Message): void {
    // A single voter needs no confirmation round.
    if (this.trk.voters.length === 1 && this.trk.isVoter(this.id)) {
      this.respondToReadIndex(m, this.raftLog.committed)
      return
    }
    // Thesis §6.4: the commit index is only known to be up to date once an entry of this term
    // has committed; hold the request until then.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m)
      return
    }
    this.startReadIndexRound(m)
  }

  private startReadIndexRound(m: Message): void {
    const ctx = m.context ?? ''
    this.readOnly.addRequest(this.raftLog.committed, m, ctx)
    this.readOnly.recvAck(this.id, ctx)
    this.bcastHeartbeatWithCtx(ctx)
  }

  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnErr(this.raftLog.committed) === this.term
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return
    if (!this.committedEntryInCurrentTerm()) return
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    for (const m of msgs) this.startReadIndexRound(m)
  }

  private respondToReadIndex(req: Message, index: number): void {
    const ctx = req.context ?? ''
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, ctx })
      return
    }
    this.send(newMessage({ type: 'MsgReadIndexResp', to: req.from, index, context: ctx }))
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true
    if (m.reject) {
      // Fast backtracking: jump to the follower's hint, refined by our own log (etcd).
      let nextProbeIdx = m.rejectHint
      if (m.logTerm > 0)
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.sendAppend(m.from)
      }
      return
    }
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return
    if (pr.state === 'probe') {
      pr.becomeReplicate()
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
      // The follower caught up (from the snapshot or otherwise): resume from the log.
      pr.becomeProbe()
      pr.becomeReplicate()
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index)
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages()
      this.bcastAppend()
    }
    // Flow control may have opened: send as many non-empty MsgApps as allowed (pipelining).
    if (m.from !== this.id) {
      while (this.maybeSendAppend(m.from, false)) {
        // keep sending
      }
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(m.from)
    }
  }

  /** Leaves snapshot state after the shell reported the send (or we gave up waiting). */
  private snapshotDone(pr: Progress, failed: boolean): void {
    // On failure forget the pending snapshot so probing restarts from match.
    if (failed) pr.pendingSnapshot = 0
    pr.becomeProbe()
    // Wait for the MsgAppResp (success) or a heartbeat interval (failure) before resending.
    pr.msgAppFlowPaused = true
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true
    // Safety net (not in etcd): a follower that keeps answering heartbeats for two election
    // timeouts without acknowledging the snapshot probably never got it, and the shell did not
    // report the failure. Retry through probing instead of waiting forever.
    if (pr.state === 'snapshot') {
      pr.snapshotWaitHeartbeats++
      const limit = Math.ceil((2 * this.electionTimeout) / this.heartbeatTimeout)
      if (pr.snapshotWaitHeartbeats >= limit) this.snapshotDone(pr, true)
    }
    pr.msgAppFlowPaused = false
    // Resume a stalled stream (even with full inflights an empty MsgApp is sent so that lost
    // messages cannot wedge replication) or re-probe.
    if (pr.match < this.raftLog.lastIndex() || pr.state === 'probe') this.sendAppend(m.from)
    if (m.context === undefined || m.context === '') return
    this.readOnly.recvAck(m.from, m.context)
    for (const rs of this.readOnly.advance(m.context, this.trk.voters)) {
      this.respondToReadIndex(rs.req, rs.index)
    }
  }

  /** Leadership transfer (thesis §3.10): bring the transferee up to date, then MsgTimeoutNow. */
  private stepLeaderTransfer(m: Message, pr: Progress): void {
    if (pr.isLearner) return
    const transferee = m.from
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return
      this.abortLeaderTransfer()
    }
    if (transferee === this.id) return
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0
    this.leadTransferee = transferee
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee)
    else this.sendAppend(transferee)
  }

  // ---- candidate --------------------------------------------------------------------------

  private stepCandidate(m: Message): void {
    const myVoteResp: MessageType = this.state === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp'
    switch (m.type) {
      case 'MsgProp':
        throw new ProposalDroppedError(`no leader at term ${this.term} (campaigning)`)
      case 'MsgReadIndex':
        throw new ProposalDroppedError(`no leader at term ${this.term} (campaigning)`)
      case 'MsgApp':
        this.becomeFollower(m.term, m.from)
        this.handleAppendEntries(m)
        return
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case 'MsgTimeoutNow':
        return
      default:
        break
    }
    if (m.type !== myVoteResp) return
    const res = this.poll(m.from, m.type, !m.reject)
    if (res === 'won') {
      if (this.state === 'preCandidate') {
        this.campaign('election')
      } else {
        this.becomeLeader()
        this.bcastAppend()
      }
    } else if (res === 'lost') {
      // Back to follower; a pre-candidate keeps its term, a candidate its new one.
      this.becomeFollower(this.term, NONE)
    }
  }

  // ---- follower ---------------------------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE) throw new ProposalDroppedError(`no leader at term ${this.term}`)
        if (this.disableProposalForwarding)
          throw new ProposalDroppedError('proposal forwarding disabled')
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgApp':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case 'MsgHeartbeat':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case 'MsgSnap':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case 'MsgTransferLeader':
        if (this.lead === NONE) return
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgTimeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote (the old leader asked us).
        this.hup('transfer')
        return
      case 'MsgReadIndex':
        if (this.lead === NONE) throw new ProposalDroppedError(`no leader at term ${this.term}`)
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, ctx: m.context ?? '' })
        return
      default:
        return
    }
  }

  /** Paper Figure 2, AppendEntries receiver, with etcd's fast-backtracking hint on rejection. */
  handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index already matches (log matching): ack that much.
      this.send(newMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }))
      return
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew !== undefined) {
      this.send(newMessage({ type: 'MsgAppResp', to: m.from, index: lastNew }))
      return
    }
    // Hint: the largest (index, term) with index <= m.index and term <= m.logTerm in our log;
    // every entry after it cannot match the leader's.
    const hint = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    )
    this.send(
      newMessage({
        type: 'MsgAppResp',
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    )
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit)
    const resp = newMessage({ type: 'MsgHeartbeatResp', to: m.from })
    if (m.context !== undefined) resp.context = m.context
    this.send(resp)
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot
    if (!s) return
    if (this.restore(s)) {
      this.send(newMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.lastIndex() }))
    } else {
      this.send(newMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }))
    }
  }

  /**
   * Installs a snapshot from the leader (paper §7). Returns false if it is stale or we already
   * have its last entry (then only commit fast-forwards).
   */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false
    if (this.state !== 'follower') {
      // Defense in depth (etcd): only followers install snapshots.
      this.becomeFollower(this.term + 1, NONE)
      return false
    }
    const cs = s.metadata.confState
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) {
      this.logger.warn(`${this.id} ignoring snapshot that does not contain us`)
      return false
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      this.raftLog.commitTo(s.metadata.index)
      return false
    }
    this.raftLog.restore(s)
    this.restoreConfState(cs)
    return true
  }

  /** Replaces the configuration wholesale (startup and snapshot install). */
  private restoreConfState(cs: ConfState): void {
    for (const id of this.trk.members()) this.trk.removeMember(id)
    const next = this.raftLog.lastIndex() + 1
    for (const id of cs.voters) this.trk.setMember(id, 'voter', next)
    for (const id of cs.learners) this.trk.setMember(id, 'learner', next)
    const self = this.trk.progress.get(this.id)
    if (self) self.match = this.raftLog.lastIndex()
  }

  // ---- conf changes -----------------------------------------------------------------------

  /**
   * Applies a committed conf change (one at a time, thesis §4.1) and returns the new ConfState.
   * Invalid changes (removing the last voter, promoting a non-learner, demoting a voter) leave
   * the configuration as is.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const next = this.raftLog.lastIndex() + 1
    const id = cc.nodeId
    if (id === NONE) return this.trk.confState()
    switch (cc.type) {
      case 'addNode':
        this.trk.setMember(id, 'voter', next)
        break
      case 'promoteLearner':
        if (this.trk.isLearner(id)) this.trk.setMember(id, 'voter', next)
        break
      case 'addLearner':
        if (!this.trk.isVoter(id)) this.trk.setMember(id, 'learner', next)
        break
      case 'updateNode':
        // Attributes only (the shell's business): the configuration is unchanged.
        break
      case 'removeNode':
        if (this.trk.isVoter(id) && this.trk.voters.length === 1) break
        this.trk.removeMember(id)
        break
      default:
        assertNever(cc.type, 'conf change type')
    }
    this.afterConfChange()
    return this.trk.confState()
  }

  private afterConfChange(): void {
    const pr = this.trk.progress.get(this.id)
    if ((!pr || pr.isLearner) && this.state === 'leader') {
      // Removed or demoted: step down (etcd StepDownOnRemoval); the rest elect a new leader.
      this.becomeFollower(this.term, NONE)
      return
    }
    if (this.state !== 'leader' || this.trk.voters.length === 0) return
    // The quorum may have shrunk: commit what now has a majority, and probe new members.
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages()
      this.bcastAppend()
    } else {
      for (const id of this.trk.members()) if (id !== this.id) this.maybeSendAppend(id, false)
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee))
      this.abortLeaderTransfer()
  }
}

/** Total data bytes of entries (the unit of the in-flight and uncommitted limits). */
export function payloadsSize(ents: Entry[]): number {
  let s = 0
  for (const e of ents) s += e.data.length
  return s
}
