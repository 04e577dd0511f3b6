// Raft's stable storage over the member's SQLite database (migrations/0001_raft.sql): hard
// state, log entries and the compaction point. Implements the raft core's `Storage` interface
// plus the writes the Ready loop makes; every write happens inside the loop's one transaction.
import { CompactedError, UnavailableError } from '../raft/errors.ts'
import type { Storage } from '../raft/storage.ts'
import { limitSize } from '../raft/storage.ts'
import type { ConfState, Entry, EntryType, HardState, Snapshot } from '../raft/types.ts'
import { emptyHardState } from '../raft/types.ts'
import type { Sql } from '../mvcc/sql.ts'

interface EntryRow {
  idx: number
  term: number
  type: string
  data: string
}

/** What a snapshot sent to a follower contains: produced by the state machine on demand. */
export interface SnapshotSource {
  /** The applied index, its term and the membership at that index, with the state's dump. */
  currentSnapshot(): Snapshot
}

/**
 * Raft storage in SQLite. The log holds entries (snapshotIndex, lastIndex]; the compaction
 * point (snapshotIndex, snapshotTerm) is kept in raft_snapshot.
 *
 *   compacted at 5 (term 2), entries 6..8 in raft_entries:
 *   firstIndex = 6, lastIndex = 8, term(5) = 2 from raft_snapshot
 *
 * Invariant: firstIndex() == snapshotIndex + 1 and lastIndex() >= snapshotIndex.
 */
export class SqlRaftStorage implements Storage {
  private snapIndex = 0
  private snapTerm = 0
  private last = 0
  private confState: ConfState = { voters: [], learners: [] }
  /**
   * Terms of log entries by index, as appended: raft asks for terms many times per entry (to
   * build appends and check commits), and a SQL query each time was ~4 % of a put's CPU. Kept
   * in step with every write below; a miss falls back to SQL (e.g. after a restart).
   */
  private readonly terms = new Map<number, number>()

  constructor(
    private readonly sql: Sql,
    private readonly snapshots: SnapshotSource,
  ) {
    const snap = sql
      .exec('SELECT idx, term, conf_state FROM raft_snapshot WHERE id = 1')
      .toArray()[0] as { idx: number; term: number; conf_state: string } | undefined
    if (snap) {
      this.snapIndex = snap.idx
      this.snapTerm = snap.term
      this.confState = JSON.parse(snap.conf_state) as ConfState
    }
    const last = sql.exec('SELECT MAX(idx) AS last FROM raft_entries').toArray()[0] as
      { last: number | null } | undefined
    this.last = Math.max(last?.last ?? 0, this.snapIndex)
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    const row = this.sql
      .exec('SELECT term, vote, commit_index FROM raft_hard_state WHERE id = 1')
      .toArray()[0] as { term: number; vote: string; commit_index: number } | undefined
    const hardState = row
      ? { term: row.term, vote: row.vote, commit: row.commit_index }
      : emptyHardState()
    return { hardState, confState: cloneConfState(this.confState) }
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.snapIndex) throw new CompactedError()
    if (hi > this.last + 1) throw new UnavailableError()
    const rows = this.sql
      .exec(
        'SELECT idx, term, type, data FROM raft_entries WHERE idx >= ? AND idx < ? ORDER BY idx',
        lo,
        hi,
      )
      .toArray() as unknown as EntryRow[]
    return limitSize(rows.map(toEntry), maxBytes)
  }

  term(i: number): number {
    if (i === this.snapIndex) return this.snapTerm
    if (i < this.snapIndex) throw new CompactedError()
    if (i > this.last) throw new UnavailableError()
    const cached = this.terms.get(i)
    if (cached !== undefined) return cached
    const row = this.sql.exec('SELECT term FROM raft_entries WHERE idx = ?', i).toArray()[0] as
      { term: number } | undefined
    if (!row) throw new UnavailableError()
    return row.term
  }

  lastIndex(): number {
    return this.last
  }

  firstIndex(): number {
    return this.snapIndex + 1
  }

  snapshot(): Snapshot {
    return this.snapshots.currentSnapshot()
  }

  /** The membership as of the last conf change applied (or snapshot installed). */
  currentConfState(): ConfState {
    return cloneConfState(this.confState)
  }

  /** Persists the hard state. */
  setHardState(hs: HardState): void {
    this.sql.exec(
      'INSERT INTO raft_hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote, ' +
        'commit_index = excluded.commit_index',
      hs.term,
      hs.vote,
      hs.commit,
    )
  }

  /** Appends entries, replacing any conflicting suffix of the log (raft's unstable → stable). */
  append(entries: Entry[]): void {
    const first = entries[0]
    if (!first) return
    if (first.index <= this.last) {
      this.sql.exec('DELETE FROM raft_entries WHERE idx >= ?', first.index)
      for (let i = first.index; i <= this.last; i++) this.terms.delete(i)
    }
    for (const e of entries) {
      this.terms.set(e.index, e.term)
      this.sql.exec(
        'INSERT INTO raft_entries (idx, term, type, data) VALUES (?, ?, ?, ?)',
        e.index,
        e.term,
        e.type,
        e.data,
      )
    }
    this.last = entries[entries.length - 1]!.index
  }

  /** Records the membership after a conf change was applied (in the apply transaction). */
  setConfState(cs: ConfState): void {
    this.confState = cloneConfState(cs)
    this.writeSnapshotRow()
  }

  /** A follower installed a snapshot from its leader: the log restarts after it. */
  applySnapshot(snap: Snapshot): void {
    this.sql.exec('DELETE FROM raft_entries')
    this.terms.clear()
    this.snapIndex = snap.metadata.index
    this.snapTerm = snap.metadata.term
    this.last = snap.metadata.index
    this.confState = cloneConfState(snap.metadata.confState)
    this.writeSnapshotRow()
  }

  /** Discards log entries up to and including `index` (which must be applied). */
  compact(index: number): void {
    if (index <= this.snapIndex) return
    const term = this.term(index)
    this.sql.exec('DELETE FROM raft_entries WHERE idx <= ?', index)
    for (let i = this.snapIndex + 1; i <= index; i++) this.terms.delete(i)
    this.snapIndex = index
    this.snapTerm = term
    this.writeSnapshotRow()
  }

  private writeSnapshotRow(): void {
    this.sql.exec(
      'INSERT INTO raft_snapshot (id, idx, term, conf_state) VALUES (1, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term, ' +
        'conf_state = excluded.conf_state',
      this.snapIndex,
      this.snapTerm,
      JSON.stringify(this.confState),
    )
  }
}

function toEntry(row: EntryRow): Entry {
  return { index: row.idx, term: row.term, type: row.type as EntryType, data: row.data }
}

function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}
