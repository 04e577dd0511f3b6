// Restoring a saved snapshot (etcdctl snapshot restore) into a NEW cluster, through raft: every
// member of the new cluster applies the same state at the same index. The file travels in
// chunks, one raft entry each (a Durable Object SQLite row holds at most 2 MB, and the raft
// log stores entries as rows); chunks wait in `restore_staging` (replicated, carried by raft
// snapshots) and the last one applies the whole file in its one transaction, so no reader
// ever sees half a restore. Refused unless the store is fresh (nothing was ever written or
// restored). The new cluster keeps its own membership and identity: only the data comes.
import type { Sql } from '../mvcc/sql.ts'
import type { KvStore } from '../mvcc/kv-store.ts'

/** Characters of the file per raft entry (escaped in JSON, a row stays well under 2 MB). */
export const RESTORE_CHUNK_CHARS = 256 * 1024

/** The data of one restore entry: chunk `seq` of `total` of request `id`. */
export interface RestoreEntry {
  id: string
  restore: { seq: number; total: number; data: string }
}

/** The entries that restore `data` (a saved snapshot, checksum already verified), in order. */
export function restoreEntries(requestId: string, data: string): string[] {
  const total = Math.max(1, Math.ceil(data.length / RESTORE_CHUNK_CHARS))
  return Array.from({ length: total }, (_, seq) => {
    const chunk = data.slice(seq * RESTORE_CHUNK_CHARS, (seq + 1) * RESTORE_CHUNK_CHARS)
    const entry: RestoreEntry = { id: requestId, restore: { seq, total, data: chunk } }
    return JSON.stringify(entry)
  })
}

/** Whether an entry's parsed data is a restore chunk. */
export function isRestoreEntry(entry: object): entry is RestoreEntry {
  return 'restore' in entry
}

/** The outcome a restore's proposer gets. */
export interface RestoreOutcome {
  ok: boolean
  message: string
}

/** Tables of the new cluster that a restore keeps as they are (they are not data). */
const KEPT_TABLES = ['cluster_members', 'member_requests', 'restore_staging', 'member_alarms']

/**
 * Applies one restore chunk. The last chunk of a request assembles the file and restores it,
 * at most once per request id (a retry gets the first outcome); other chunks answer nothing.
 * Deterministic: everything it reads is replicated state.
 */
export function applyRestore(
  sql: Sql,
  store: KvStore,
  entry: RestoreEntry,
  index: number,
  /** Replaces the replicated state by a dump (the machine's own restore, as for a raft snapshot). */
  importState: (file: string) => void,
): RestoreOutcome | undefined {
  const { seq, total, data } = entry.restore
  const seen = sql
    .exec('SELECT response FROM member_requests WHERE request_id = ?', entry.id)
    .toArray()[0]
  if (seen) {
    sql.exec('DELETE FROM restore_staging WHERE request_id = ?', entry.id)
    return seq === total - 1 ? (JSON.parse(String(seen['response'])) as RestoreOutcome) : undefined
  }
  sql.exec(
    'INSERT OR REPLACE INTO restore_staging (request_id, seq, data) VALUES (?, ?, ?)',
    entry.id,
    seq,
    data,
  )
  if (seq !== total - 1) return undefined
  const chunks = sql
    .exec('SELECT data FROM restore_staging WHERE request_id = ? ORDER BY seq', entry.id)
    .toArray()
    .map((row) => String(row['data']))
  sql.exec('DELETE FROM restore_staging WHERE request_id = ?', entry.id)
  const outcome =
    chunks.length === total
      ? restoreOnce(sql, store, chunks.join(''), importState)
      : { ok: false, message: `restore refused: ${total - chunks.length} chunks missing` }
  sql.exec(
    'INSERT INTO member_requests (request_id, applied_index, response) VALUES (?, ?, ?)',
    entry.id,
    index,
    JSON.stringify(outcome),
  )
  return outcome
}

/** Replaces the store's tables by the file's, keeping this cluster's own tables. */
function restoreOnce(
  sql: Sql,
  store: KvStore,
  file: string,
  importState: (file: string) => void,
): RestoreOutcome {
  const fresh =
    store.currentRevision() === 1 &&
    store.compactedRevision() === -1 &&
    sql.exec('SELECT 1 FROM mvcc_history LIMIT 1').toArray().length === 0
  if (!fresh) return { ok: false, message: 'restore refused: the cluster already holds data' }
  let parsed: { version?: number; tables?: Record<string, unknown> }
  try {
    parsed = JSON.parse(file) as typeof parsed
  } catch {
    return { ok: false, message: 'restore refused: the snapshot is not readable' }
  }
  if (parsed.version !== 1 || typeof parsed.tables !== 'object' || parsed.tables === null) {
    return { ok: false, message: 'restore refused: unknown snapshot format' }
  }
  const kept = KEPT_TABLES.map((name) => ({
    name,
    rows: sql.exec(`SELECT * FROM ${name}`).toArray(),
  }))
  importState(file)
  for (const { name, rows } of kept) {
    sql.exec(`DELETE FROM ${name}`)
    for (const row of rows) {
      const columns = Object.keys(row)
      sql.exec(
        `INSERT INTO ${name} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        ...columns.map((c) => row[c] ?? null),
      )
    }
  }
  return { ok: true, message: `restored at revision ${store.currentRevision()}` }
}
