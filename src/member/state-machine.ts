// What the Ready loop applies committed entries to. The member's state machine is the MVCC
// store (src/mvcc) behind the etcd KV API (src/api); this interface keeps the loop ignorant of it.
import type { ConfChange, Entry } from '../raft/types.ts'

/** The replicated state machine of a member. All methods run inside the loop's transaction. */
export interface StateMachine {
  /** The index of the last entry applied (persisted with the state, in the same transaction). */
  appliedIndex(): number
  /**
   * Applies one committed normal entry and records `entry.index` as applied. Returns the
   * outcome for whoever proposed it (undefined for the leader's empty no-op entry).
   * Deterministic: the same entries give the same state on every member.
   */
  apply(entry: Entry): ApplyResult | undefined
  /**
   * Applies a committed conf change (raft already applied it to its configuration) and records
   * `entry.index` as applied; returns the outcome for its proposer. Without it, `skip` is used.
   */
  applyConfChange?(entry: Entry, cc: ConfChange): ApplyResult | undefined
  /** Records `index` as applied for an entry that changes nothing here (e.g. a conf change). */
  skip(index: number): void
  /** A serialized copy of the whole state (for a follower that fell behind the log). */
  dump(): string
  /** Replaces the whole state by a dump taken at `index` on another member. */
  restore(data: string, index: number): void
  /** The loop's transaction rolled back: drop anything cached from inside it. */
  afterRollback?(): void
  /** Around the entries of one Ready, inside its transaction (batch bookkeeping writes). */
  beginApply?(): void
  endApply?(): void
}

/** The outcome of applying one proposal: the proposer's id and its answer (or etcd error). */
export interface ApplyResult {
  requestId: string
  /** The encoded answer (success) or error (failure), as the proposer's waiter expects it. */
  value: unknown
}
