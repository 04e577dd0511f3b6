// The leader's view of the cluster (etcd tracker/tracker.go): the configuration (voters and
// learners), one Progress per member, and the votes of the current election.

import { assert } from './errors.ts'
import { Progress } from './progress.ts'
import type { VoteResult } from './quorum.ts'
import { committedIndex, voteResult } from './quorum.ts'
import type { ConfState, NodeId } from './types.ts'

/** Tracks configuration, per-member progress and election votes. */
export class ProgressTracker {
  /** Voting members, sorted. Invariant: disjoint from learners. */
  voters: NodeId[] = []
  /** Non-voting members, sorted. */
  learners: NodeId[] = []
  /** Progress of every voter and learner (maintained for all roles; used by the leader). */
  readonly progress = new Map<NodeId, Progress>()
  /** Votes received in the current (pre-)election: true = granted. */
  readonly votes = new Map<NodeId, boolean>()

  readonly maxInflight: number
  readonly maxInflightBytes: number

  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight
    this.maxInflightBytes = maxInflightBytes
  }

  /** The configuration as a plain ConfState. */
  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] }
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id)
  }

  isLearner(id: NodeId): boolean {
    return this.learners.includes(id)
  }

  /** Every member (voters then learners). */
  members(): NodeId[] {
    return [...this.voters, ...this.learners]
  }

  /** Adds or updates a member's role; new members start probing at `next`. */
  setMember(id: NodeId, role: 'voter' | 'learner', next: number): void {
    this.voters = this.voters.filter((v) => v !== id)
    this.learners = this.learners.filter((v) => v !== id)
    if (role === 'voter') this.voters = [...this.voters, id].sort()
    else this.learners = [...this.learners, id].sort()
    const pr = this.progress.get(id)
    if (pr) {
      pr.isLearner = role === 'learner'
    } else {
      const p = new Progress(next, this.maxInflight, this.maxInflightBytes, role === 'learner')
      // A new member is presumed active so check-quorum does not immediately count it against
      // the leader (etcd does the same in confchange).
      p.recentActive = true
      this.progress.set(id, p)
    }
    assert(!(this.isVoter(id) && this.isLearner(id)), `${id} is both voter and learner`)
  }

  /** Removes a member entirely. */
  removeMember(id: NodeId): void {
    this.voters = this.voters.filter((v) => v !== id)
    this.learners = this.learners.filter((v) => v !== id)
    this.progress.delete(id)
  }

  /** The largest index replicated on a majority of voters (by Progress.match). */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match)
  }

  /** Whether a majority of voters were heard from recently (check-quorum). */
  quorumActive(self: NodeId): boolean {
    return (
      voteResult(this.voters, (id) => {
        if (id === self) return true
        const pr = this.progress.get(id)
        return pr ? pr.recentActive : undefined
      }) === 'won'
    )
  }

  resetVotes(): void {
    this.votes.clear()
  }

  /** Records a vote (only the first vote from a node counts). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  /** Counts the votes: granted, rejected, and the result. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const id of this.voters) {
      const v = this.votes.get(id)
      if (v === true) granted++
      else if (v === false) rejected++
    }
    return { granted, rejected, result: voteResult(this.voters, (id) => this.votes.get(id)) }
  }
}
