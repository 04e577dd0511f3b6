// Restoring a saved snapshot (etcdctl snapshot restore) into a NEW cluster. The restore travels
// as one raft entry, so every member of the new cluster applies the same state at the same
// index; it is refused unless the store is fresh (nothing was ever written or restored). The
// new cluster keeps its own membership and identity: only the data comes from the file.
import type { Sql } from '../mvcc/sql.ts'
import type { KvStore } from '../mvcc/kv-store.ts'
import { importState } from './kv-snapshot.ts'

/** The data of a restore entry. */
export interface RestoreEntry {
  id: string
  restore: string
}

/** The entry that restores `data` (a saved snapshot, checksum already verified). */
export function restoreEntry(requestId: string, data: string): string {
  const entry: RestoreEntry = { id: requestId, restore: data }
  return JSON.stringify(entry)
}

/** Whether an entry's parsed data is a restore. */
export function isRestoreEntry(entry: object): entry is RestoreEntry {
  return 'restore' in entry
}

/** The outcome a restore's proposer gets. */
export interface RestoreOutcome {
  ok: boolean
  message: string
}

/** Tables of the new cluster that a restore keeps as they are (they are not data). */
const KEPT_TABLES = ['cluster_members', 'member_requests']

/**
 * Applies a restore entry: replaces the store's tables by the file's, keeping this cluster's
 * membership and request log. Deterministic: the freshness check reads replicated state only.
 */
export function applyRestore(sql: Sql, store: KvStore, entry: RestoreEntry): RestoreOutcome {
  const fresh =
    store.currentRevision() === 1 &&
    store.compactedRevision() === -1 &&
    sql.exec('SELECT 1 FROM mvcc_history LIMIT 1').toArray().length === 0
  if (!fresh) return { ok: false, message: 'restore refused: the cluster already holds data' }
  let parsed: { version?: number; tables?: Record<string, unknown> }
  try {
    parsed = JSON.parse(entry.restore) as typeof parsed
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
  importState(sql, entry.restore)
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
