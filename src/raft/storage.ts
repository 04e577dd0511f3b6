// The Storage interface the raft core reads its stable log from, and MemoryStorage, the
// in-memory implementation used by tests and the simulator. The member implements the same
// interface over Durable Object SQLite. Mirrors etcd's raft/storage.go.

import { assert, CompactedError, SnapOutOfDateError, UnavailableError } from './errors.ts'
import type { ConfState, Entry, HardState, Snapshot } from './types.ts'
import { emptyHardState, emptySnapshot } from './types.ts'

/**
 * Read access to persisted raft state. Every method is synchronous. Errors:
 * `CompactedError` for indexes below `firstIndex()`, `UnavailableError` for indexes above
 * `lastIndex()`, `SnapshotTemporarilyUnavailableError` from `snapshot()` when it cannot be
 * produced yet. Any other thrown error is treated as fatal.
 *
 * Invariant: term(firstIndex() - 1) is answered (the compaction point), and
 * firstIndex() - 1 <= snapshot().metadata.index <= applied: the snapshot a leader sends may be
 * built fresh from the applied state (as etcd-server does), so it contains the current
 * membership and a newly added member finds itself in it.
 */
export interface Storage {
  /** The persisted hard state and the membership as of the last persisted snapshot/conf change. */
  initialState(): { hardState: HardState; confState: ConfState }
  /**
   * Entries in [lo, hi). Returns at least one entry (if any are in range) even if it exceeds
   * `maxBytes`; otherwise stops before the total size exceeds `maxBytes`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[]
  /** The term of entry `i`, for i in [firstIndex()-1, lastIndex()]. */
  term(i: number): number
  /** The index of the last entry (the snapshot index if the log is empty). */
  lastIndex(): number
  /** The index of the first entry that may be read with `entries` (snapshot index + 1). */
  firstIndex(): number
  /** The most recent snapshot (see the invariant above); sent to followers behind firstIndex. */
  snapshot(): Snapshot
}

/** An approximate size in bytes of an entry, used for `maxSizePerMsg` limits. */
export function entrySize(e: Entry): number {
  return e.data.length + 16
}

/** Keeps a prefix of `ents` whose total size is at most `maxBytes`, but never fewer than one. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents
  let size = entrySize(ents[0]!)
  let limit = 1
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit]!)
    if (size > maxBytes) break
  }
  return limit === ents.length ? ents : ents.slice(0, limit)
}

/**
 * In-memory Storage. `ents[0]` is a dummy entry holding the snapshot's index and term, so
 * `ents[i - offset]` is the entry at index i where offset = ents[0].index.
 *
 *   snapshot at 5 (term 2), entries 6..8:
 *   ents = [ {i5,t2 dummy}, {i6}, {i7}, {i8} ]   firstIndex = 6, lastIndex = 8
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState()
  private snap: Snapshot = emptySnapshot()
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: '' }]
  /** The membership as of the applied index, when the application persists it (else the snapshot's). */
  private confState: ConfState | undefined

  /**
   * @param confState optional initial membership (held by the empty index-0 snapshot), for
   *   tests that start nodes from a prepared log instead of bootstrapping.
   */
  constructor(confState?: ConfState) {
    if (confState) this.snap.metadata.confState = cloneConfState(confState)
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return {
      hardState: { ...this.hardState },
      confState: cloneConfState(this.confState ?? this.snap.metadata.confState),
    }
  }

  /** Persists the hard state. */
  setHardState(hs: HardState): void {
    this.hardState = { ...hs }
  }

  /**
   * Persists the membership as of the applied index, for applications that restart with
   * `Config.applied` beyond the snapshot (the member does). Cleared by `applySnapshot`.
   */
  setConfState(cs: ConfState): void {
    this.confState = cloneConfState(cs)
  }

  /** The persisted hard state (for tests and the simulator). */
  getHardState(): HardState {
    return { ...this.hardState }
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.offset()
    if (lo <= offset) throw new CompactedError()
    assert(
      hi <= this.lastIndex() + 1,
      () => `entries hi(${hi}) out of bound lastIndex(${this.lastIndex()})`,
    )
    // Only the dummy entry: nothing to return.
    if (this.ents.length === 1) throw new UnavailableError()
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes)
  }

  term(i: number): number {
    const offset = this.offset()
    if (i < offset) throw new CompactedError()
    if (i - offset >= this.ents.length) throw new UnavailableError()
    return this.ents[i - offset]!.term
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1
  }

  firstIndex(): number {
    return this.offset() + 1
  }

  snapshot(): Snapshot {
    return this.snap
  }

  /** Replaces the whole state with a snapshot (a follower installing one from its leader). */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapOutOfDateError()
    this.snap = snap
    this.confState = undefined
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: '' }]
  }

  /**
   * Records a snapshot of the application state at index `i` (i <= lastIndex) so a later
   * `compact` can discard the log before it. Returns the snapshot.
   */
  createSnapshot(i: number, confState: ConfState | undefined, data: string): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapOutOfDateError()
    const offset = this.offset()
    assert(
      i <= this.lastIndex(),
      () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`,
    )
    const term = this.ents[i - offset]!.term
    this.snap = {
      metadata: {
        index: i,
        term,
        confState: cloneConfState(confState ?? this.snap.metadata.confState),
      },
      data,
    }
    return this.snap
  }

  /** Discards entries before `compactIndex`; it becomes the new dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.offset()
    if (compactIndex <= offset) throw new CompactedError()
    assert(
      compactIndex <= this.lastIndex(),
      () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
    )
    const i = compactIndex - offset
    const dummy = this.ents[i]!
    this.ents = [
      { term: dummy.term, index: dummy.index, type: 'normal', data: '' },
      ...this.ents.slice(i + 1),
    ]
  }

  /**
   * Appends entries, truncating any existing suffix they conflict with. Entries below the
   * compaction point are ignored. Invariant: entries are contiguous and start at most at
   * lastIndex()+1.
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0]!.index + entries.length - 1
    if (last < first) return
    if (first > entries[0]!.index) entries = entries.slice(first - entries[0]!.index)
    const offset = entries[0]!.index - this.offset()
    assert(
      offset <= this.ents.length,
      () => `missing log entry [last: ${this.lastIndex()}, append at: ${entries[0]!.index}]`,
    )
    if (offset === this.ents.length) {
      // The common case: a plain append at the end.
      for (const e of entries) this.ents.push({ ...e })
    } else {
      this.ents = this.ents.slice(0, offset).concat(entries.map((e) => ({ ...e })))
    }
  }

  private offset(): number {
    return this.ents[0]!.index
  }
}

function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}
