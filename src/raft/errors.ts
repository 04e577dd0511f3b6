// The raft core's three kinds of failure (STYLE.md §4):
// - expected outcomes are typed errors the caller can branch on (`instanceof`);
// - broken invariants go through `assert` and crash loudly;
// - the core never catches and swallows either.

/** Base class of every expected (typed) error raised by the raft core. */
export class RaftError extends Error {
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

/**
 * A proposal (or read-index / conf-change request) could not be accepted: there is no known
 * leader, a leadership transfer is in progress, the node is not a voter, or a conf change is
 * still pending. etcd's `ErrProposalDropped`. The caller should retry later or elsewhere.
 */
export class ProposalDroppedError extends RaftError {
  readonly reason: string

  constructor(reason: string) {
    super(`raft proposal dropped: ${reason}`)
    this.reason = reason
  }
}

/** Storage was asked for entries at or below its compaction point (etcd `ErrCompacted`). */
export class CompactedError extends RaftError {
  constructor() {
    super('requested index is unavailable due to compaction')
  }
}

/** The snapshot to apply is older than what storage already holds (etcd `ErrSnapOutOfDate`). */
export class SnapOutOfDateError extends RaftError {
  constructor() {
    super('requested index is older than the existing snapshot')
  }
}

/** Storage was asked for entries beyond its last index (etcd `ErrUnavailable`). */
export class UnavailableError extends RaftError {
  constructor() {
    super('requested entry at index is unavailable')
  }
}

/**
 * Storage cannot produce a snapshot right now (etcd `ErrSnapshotTemporarilyUnavailable`).
 * The leader keeps the follower in probe state and retries later.
 */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('snapshot is temporarily unavailable')
  }
}

/** Raised by `assert`: a raft invariant is broken. Never caught inside the core. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`)
    this.name = 'RaftInvariantError'
  }
}

/** Crash loudly when an invariant does not hold. */
export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message())
}

/** Exhaustiveness check for `switch` over a union. */
export function assertNever(x: never, what = 'value'): never {
  throw new RaftInvariantError(`unexpected ${what}: ${JSON.stringify(x)}`)
}
