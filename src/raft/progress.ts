// What the leader knows about one follower's log (etcd tracker/progress.go).
//
// - probe: we don't know where the follower's log matches; send one MsgApp per heartbeat
//   interval and back off on rejection until it matches.
// - replicate: the follower is known to match up to `match`; stream MsgApps optimistically
//   (next = last sent + 1), pipelined up to the in-flight window.
// - snapshot: the follower needs a snapshot; send nothing else until it reports back.
//
// Invariant: match < next.

import { assert, assertNever } from './errors.ts'
import { Inflights } from './inflights.ts'

/** The replication state of a follower as seen by the leader. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

/** Per-follower replication progress. */
export class Progress {
  /** The highest index known to be replicated on the follower. */
  match = 0
  /** The next index to send. */
  next: number
  state: ProgressState = 'probe'
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0
  /** In snapshot state: heartbeat responses received while waiting for the snapshot. */
  snapshotWaitHeartbeats = 0
  /** Whether the follower was heard from since the last check-quorum round. */
  recentActive = false
  /** In probe state: one MsgApp was sent this heartbeat interval; wait before the next. */
  msgAppFlowPaused = false
  readonly inflights: Inflights
  isLearner: boolean

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next
    this.inflights = new Inflights(maxInflight, maxInflightBytes)
    this.isLearner = isLearner
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false
    this.pendingSnapshot = 0
    this.snapshotWaitHeartbeats = 0
    this.state = state
    this.inflights.reset()
  }

  /** Forgets everything (new term): probe from `next`, nothing known to match beyond `match`. */
  resetTo(match: number, next: number): void {
    this.resetState('probe')
    this.match = match
    this.next = next
    this.recentActive = false
  }

  /** Back to probing from just after the known match (or the snapshot that was sent). */
  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot
      this.resetState('probe')
      this.next = Math.max(this.match + 1, pendingSnapshot + 1)
    } else {
      this.resetState('probe')
      this.next = this.match + 1
    }
  }

  /** Start streaming from just after the match. */
  becomeReplicate(): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  /** Wait for the follower to install the snapshot at `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
  }

  /**
   * Records a MsgApp carrying `entries` entries (`bytes` bytes) sent from `next`: in replicate
   * state `next` advances optimistically and the message is tracked in flight; in probe state
   * replication pauses until the response or the next heartbeat.
   */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (entries > 0) {
          this.next += entries
          this.inflights.add(this.next - 1, bytes)
        }
        this.msgAppFlowPaused = this.inflights.full()
        break
      case 'probe':
        if (entries > 0) this.msgAppFlowPaused = true
        break
      case 'snapshot':
        assert(false, 'sending append in unhandled state snapshot')
        break
      default:
        assertNever(this.state)
    }
  }

  /** Records an acknowledgement up to `n`; returns whether it was new information. */
  maybeUpdate(n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.msgAppFlowPaused = false
    }
    this.next = Math.max(this.next, n + 1)
    return updated
  }

  /**
   * Handles a rejected MsgApp for index `rejected`, with the follower's hint `matchHint` (the
   * largest index that might match). Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Stale unless it rejects the entry right after the known match.
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    // Probe: stale unless it is about the last probe sent.
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.msgAppFlowPaused = false
    return true
  }

  /** Whether sending MsgApp to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused
      case 'replicate':
        return this.msgAppFlowPaused
      case 'snapshot':
        return true
      default:
        return assertNever(this.state)
    }
  }

  toString(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`
    if (this.isLearner) s += ' learner'
    if (this.isPaused()) s += ' paused'
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += ' inactive'
    if (this.inflights.count() > 0) s += ` inflight=${this.inflights.count()}`
    return s
  }
}
