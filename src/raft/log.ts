// The raft log: stable entries (Storage) followed by unstable ones (not yet persisted), plus the
// commit and applied cursors (etcd log.go).
//
//   snapshot/compacted | stable in Storage ........ | unstable ........ |
//   ...............firstIndex-1  firstIndex ... unstable.offset ... lastIndex
//
// Invariant: firstIndex-1 <= applied <= committed <= lastIndex.

import { assert, CompactedError, UnavailableError } from './errors.ts'
import { Unstable } from './log-unstable.ts'
import type { Storage } from './storage.ts'
import { limitSize } from './storage.ts'
import type { Entry, Snapshot } from './types.ts'

/** No limit on the size of a batch of entries. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER

/** The raft log of one node. */
export class RaftLog {
  readonly storage: Storage
  readonly unstable: Unstable
  /** The highest index known to be committed (Raft paper Figure 2: commitIndex). */
  committed: number
  /** The highest index handed to the application to apply (Figure 2: lastApplied). */
  applied: number
  /** The most bytes of committed entries returned by one `nextCommittedEnts`. */
  readonly maxApplyingEntsSize: number

  constructor(storage: Storage, maxApplyingEntsSize = NO_LIMIT) {
    this.storage = storage
    const firstIndex = storage.firstIndex()
    const lastIndex = storage.lastIndex()
    this.unstable = new Unstable(lastIndex + 1)
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = firstIndex - 1
    this.applied = firstIndex - 1
    this.maxApplyingEntsSize = maxApplyingEntsSize
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, unstable.offset=${this.unstable.offset}, len(unstable.entries)=${this.unstable.entries.length}`
  }

  /**
   * The follower side of AppendEntries (Raft paper Figure 2, receiver rules 2–5). If the entry
   * at `index` has term `logTerm`, appends `ents` (truncating any conflicting suffix), advances
   * commit to min(committed, last new index) and returns the last new index; otherwise undefined.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    ents: Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNewIndex = index + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      // Figure 2: "If an existing entry conflicts with a new one, delete it and all that follow."
      assert(
        ci > this.committed,
        () => `entry ${ci} conflicts with committed entry [committed(${this.committed})]`,
      )
      const offset = index + 1
      assert(ci - offset <= ents.length, 'conflict index out of range')
      this.append(ents.slice(ci - offset))
    }
    this.commitTo(Math.min(committed, lastNewIndex))
    return lastNewIndex
  }

  /** Appends entries after truncating any conflicting suffix; returns the new last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0]!.index - 1
    assert(
      after >= this.committed,
      () => `after(${after}) is out of range [committed(${this.committed})]`,
    )
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /**
   * The index of the first entry in `ents` that is new or conflicts (same index, different term)
   * with the log, or 0 if all are already present.
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * Fast backtracking (etcd findConflictByTerm; Raft paper §5.3 optimisation): the largest
   * index <= `index` whose term is <= `term`, together with that term. The leader can skip
   * every entry in between because none of them can match.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrUndefined(index)
      // Compacted or unavailable: we cannot look further back.
      if (t === undefined) return { index, term: 0 }
      if (t <= term) return { index, term: t }
    }
    return { index: 0, term: 0 }
  }

  /** Entries not yet handed to the shell for persisting. */
  unstableEntries(): Entry[] {
    return this.unstable.entries
  }

  /** Committed entries not yet applied, up to `maxApplyingEntsSize` bytes. */
  nextCommittedEnts(): Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex())
    if (this.committed + 1 > off)
      return this.slice(off, this.committed + 1, this.maxApplyingEntsSize)
    return []
  }

  hasNextCommittedEnts(): boolean {
    const off = Math.max(this.applied + 1, this.firstIndex())
    return this.committed + 1 > off
  }

  /** The pending unstable snapshot, if any. */
  pendingSnapshot(): Snapshot | undefined {
    return this.unstable.snapshot
  }

  /** The current snapshot: the unstable one, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  /** Advances the commit index (never backwards). */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      assert(
        this.lastIndex() >= toCommit,
        () =>
          `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
      )
      this.committed = toCommit
    }
  }

  /** Records that the shell has applied up to `i`. */
  appliedTo(i: number): void {
    if (i === 0) return
    assert(
      this.committed >= i && i >= this.applied,
      () =>
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    )
    this.applied = i
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t)
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i)
  }

  lastTerm(): number {
    const t = this.termOrUndefined(this.lastIndex())
    assert(t !== undefined, 'unexpected error when getting the last term')
    return t
  }

  /**
   * The term of entry i; 0 if i is outside [firstIndex-1, lastIndex]; undefined if storage has
   * compacted it concurrently or cannot provide it.
   */
  termOrUndefined(i: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1
    if (i < dummyIndex || i > this.lastIndex()) return 0
    const ut = this.unstable.maybeTerm(i)
    if (ut !== undefined) return ut
    try {
      return this.storage.term(i)
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined
      throw e
    }
  }

  /** The term of entry i, 0 if unknown (compacted or out of range). */
  zeroTermOnErr(i: number): number {
    return this.termOrUndefined(i) ?? 0
  }

  /** Entries from i to the end, at most `maxBytes`. Throws CompactedError if i is compacted. */
  entries(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxBytes)
  }

  /** Every entry in the log (tests only). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.MAX_SAFE_INTEGER)
  }

  /**
   * Raft paper §5.4.1 election restriction: a candidate's log (last entry `lasti` with term
   * `term`) is at least as up to date as ours if its last term is higher, or equal with an
   * index at least as large.
   */
  isUpToDate(lasti: number, term: number): boolean {
    return term > this.lastTerm() || (term === this.lastTerm() && lasti >= this.lastIndex())
  }

  /** Whether the entry at i has term `term` (false if unknown or outside the log). */
  matchTerm(i: number, term: number): boolean {
    // Stricter than etcd, whose term() answers 0 past the end, so (i > last, term 0) "matched".
    if (i > this.lastIndex() || i < this.firstIndex() - 1) return false
    const t = this.termOrUndefined(i)
    return t !== undefined && t === term
  }

  /**
   * Raft paper §5.4.2: the leader only advances commit to `maxIndex` when that entry is from
   * its current `term`; earlier-term entries are then committed indirectly.
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTermOnErr(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  /** Resets the log to an incoming snapshot. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /**
   * Entries [lo, hi), at most `maxBytes` (never fewer than one). Throws CompactedError when lo
   * is below firstIndex.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi)
    if (lo === hi) return []
    let ents: Entry[] = []
    if (lo < this.unstable.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.unstable.offset), maxBytes)
      // Storage returned fewer than asked: the size limit hit, stop here.
      if (stored.length < Math.min(hi, this.unstable.offset) - lo) return stored
      ents = stored
    }
    if (hi > this.unstable.offset) {
      const unst = this.unstable.slice(Math.max(lo, this.unstable.offset), hi)
      ents = ents.length > 0 ? ents.concat(unst) : unst
    }
    return limitSize(ents, maxBytes)
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`)
    const fi = this.firstIndex()
    if (lo < fi) throw new CompactedError()
    const length = this.lastIndex() + 1 - fi
    assert(hi <= fi + length, () => `slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`)
  }
}
