// The lease clock: how members agree on lease time without comparing their wall clocks.
//
// Every lease entry (grant, keepalive, expire, checkpoint) carries `now`, the lease time at which
// the leader proposed it. A member turns its own local time into lease time with an offset it
// learns from the entries it applies: when an entry proposed at lease time `now` is applied at
// local time `local`, the entry cannot have been proposed after it was applied, so
// `local + (now - local)` never runs ahead of the proposer's clock. Only durations measured on
// one member's clock are used; members' wall clocks may disagree by any amount.
//
// Which entries teach the offset: those of the newest raft term seen. Within a term every entry
// comes from one leader with one offset, so the largest `now - local` among them is the closest
// (still never ahead) estimate of that leader's clock. Entries of an older term are ignored: the
// newest term's leader may lag its predecessors (by its own apply delay), and mixing the two
// would let a later leader run ahead of the clock its keepalives were measured on.
//
// Invariant (what makes "never expires early" hold): a leader reads lease time only after it
// applied an entry of its own term (all earlier entries are then applied, so it learned from the
// newest term before its own), and never changes its offset during its term. So along the log,
// each term's clock lags the previous term's by at least zero: a keepalive measured by one leader
// never expires earlier, by any later leader's clock, than its own TTL after it.
//
// Worked example: leader A proposes a keepalive at lease time 10_000 (A's clock); follower B
// applies it 4 ms later, at B's local time 70_004, so B's offset is 10_000 - 70_004 = -60_004.
// A crashes; B leads from local time 71_000 on, reading lease time 71_000 - 60_004 = 10_996 where
// A would have read 11_000: B's clock runs 4 ms behind A's, and leases last 4 ms longer.

/** A member's view of lease time. Pure: local time comes in as an argument. */
export class LeaseClock {
  /** The raft term of the entries the offset was learned from (-1: none yet). */
  private term = -1
  /** lease time = local time + offsetMs (0 until an entry is seen: the first leader's own clock). */
  private offsetMs = 0
  /** The raft term of the last entry this member applied (any entry, lease or not). */
  private appliedTermValue = 0

  /** Learns from a lease entry of raft term `term`, proposed at lease time `nowMs`. */
  observe(term: number, nowMs: number, localMs: number): void {
    const offset = nowMs - localMs
    if (term > this.term) {
      this.term = term
      this.offsetMs = offset
    } else if (term === this.term && offset > this.offsetMs) {
      this.offsetMs = offset
    }
  }

  /** Records that an entry of raft term `term` was applied (see `leaderNow`). */
  noteApplied(term: number): void {
    if (term > this.appliedTermValue) this.appliedTermValue = term
  }

  /**
   * The lease time for the leader of `currentTerm`, or undefined while it may not read it yet:
   * only once it applied an entry of its own term (the invariant above). The first read claims
   * the term, so the leader's own entries, applied later, never move its offset: its clock
   * neither jumps nor slows during its term.
   */
  leaderNow(currentTerm: number, localMs: number): number | undefined {
    if (this.appliedTermValue < currentTerm) return undefined
    if (currentTerm > this.term) this.term = currentTerm
    return this.now(localMs)
  }

  /** The lease time at local time `localMs` (any member; a leader uses leaderNow). */
  now(localMs: number): number {
    return localMs + this.offsetMs
  }

  /** The term the clock learned from (-1 if none). */
  get learnedTerm(): number {
    return this.term
  }
}
