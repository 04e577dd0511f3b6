// The member's SQLite schema: migrations/NNNN_name.sql, numbered and append-only, bundled as
// text and applied in order, in one transaction, when a member starts. A test checks that this
// list and the folder agree, so a new file cannot be forgotten here.
import raft from '../../migrations/0001_raft.sql'
import mvcc from '../../migrations/0002_mvcc.sql'
import maintenance from '../../migrations/0004_maintenance.sql'
import membership from '../../migrations/0005_membership.sql'

/** One schema step. `id` is the file's number; ids are strictly increasing. */
export interface Migration {
  id: number
  name: string
  sql: string
}

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  { id: 1, name: '0001_raft', sql: raft },
  { id: 2, name: '0002_mvcc', sql: mvcc },
  { id: 4, name: '0004_maintenance', sql: maintenance },
  { id: 5, name: '0005_membership', sql: membership },
]

/** The part of Durable Object storage that migrations need (`ctx.storage` satisfies it). */
export interface MigrationStorage {
  sql: { exec(query: string, ...bindings: (string | number)[]): { toArray(): unknown[] } }
  transactionSync<T>(closure: () => T): T
}

/**
 * Applies every migration not yet applied, in one transaction, and returns the ids now applied.
 * Idempotent: a member that restarts applies nothing twice.
 */
export function applyMigrations(storage: MigrationStorage): number[] {
  return storage.transactionSync(() => {
    storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)',
    )
    const applied = new Set(
      storage.sql
        .exec('SELECT id FROM schema_migrations')
        .toArray()
        .map((row) => (row as { id: number }).id),
    )
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.id)) continue
      storage.sql.exec(migration.sql)
      storage.sql.exec(
        'INSERT INTO schema_migrations (id, name) VALUES (?, ?)',
        migration.id,
        migration.name,
      )
      applied.add(migration.id)
    }
    return [...applied].sort((a, b) => a - b)
  })
}
