// The part of the raft log not yet persisted: an optional incoming snapshot and entries after
// it (etcd log_unstable.go). `offset` is the index of entries[0].
//
//   stable storage: 1..5      unstable: offset = 6, entries = [6, 7, 8]
//
// Invariant: if snapshot is set, offset == snapshot.index + 1.

import { assert } from './errors.ts'
import type { Entry, Snapshot } from './types.ts'

/** Unstable log entries and snapshot, waiting to be handed to the shell in a Ready. */
export class Unstable {
  snapshot: Snapshot | undefined
  entries: Entry[] = []
  offset: number

  constructor(offset: number) {
    this.offset = offset
  }

  /** The index of the first possible entry, if the unstable part holds a snapshot. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined
  }

  /** The last index held here, if any. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    if (this.snapshot) return this.snapshot.metadata.index
    return undefined
  }

  /** The term of entry i if this part knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return this.entries[i - this.offset]!.term
  }

  /** Entries up to (index, term) are now persisted: drop them if they are still ours. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index)
    if (t === undefined) return
    // Only drop if the term matches: a newer leader may have overwritten them meanwhile.
    if (t === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset)
      this.offset = index + 1
    }
  }

  /** The snapshot at `index` is now persisted. */
  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = undefined
  }

  /** Replaces everything with an incoming snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.entries = []
    this.snapshot = s
  }

  /** Appends entries, truncating any conflicting suffix (entries[0] may overlap). */
  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents)
    } else if (after <= this.offset) {
      // Replace everything unstable; the stable part above `after` is overwritten by these.
      this.offset = after
      this.entries = ents.slice()
    } else {
      this.entries = this.slice(this.offset, after).concat(ents)
    }
  }

  /** Entries [lo, hi) held here. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi, () => `invalid unstable.slice ${lo} > ${hi}`)
    const upper = this.offset + this.entries.length
    assert(
      lo >= this.offset && hi <= upper,
      () => `unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`,
    )
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
