// A `Sql` (src/mvcc/sql.ts) over Node's built-in node:sqlite, for tests and benchmarks: the same
// narrow synchronous surface as Cloudflare's `ctx.storage.sql`, plus `transactionSync` as the
// Durable Object's storage has it (BEGIN/COMMIT here, since plain SQLite allows them).
import { readFileSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import type { Sql, SqlCursor, SqlRow, SqlValue } from '../../src/mvcc/sql.ts'

/** Node's SQLite behind the store's Sql interface. */
export class NodeSql implements Sql {
  readonly db: DatabaseSync
  private readonly statements = new Map<string, StatementSync>()

  constructor(path = ':memory:') {
    this.db = new DatabaseSync(path)
  }

  exec(query: string, ...bindings: SqlValue[]): SqlCursor {
    // Several statements at once (a migration file): no bindings, no rows, as ctx.storage.sql.
    if (bindings.length === 0 && /;\s*\S/.test(query.trim().replace(/;\s*$/, ''))) {
      this.db.exec(query)
      return cursor([], 0)
    }
    let stmt = this.statements.get(query)
    if (stmt === undefined) {
      stmt = this.db.prepare(query)
      this.statements.set(query, stmt)
    }
    const args = bindings.map((b) => (b instanceof ArrayBuffer ? new Uint8Array(b) : b))
    if (stmt.columns().length === 0) {
      const r = stmt.run(...args)
      return cursor([], Number(r.changes))
    }
    return cursor(stmt.all(...args) as SqlRow[], 0)
  }

  /** Runs `fn` in one transaction, as DurableObjectStorage.transactionSync. */
  transactionSync<T>(fn: () => T): T {
    // Nested calls use a savepoint, as the Durable Object's transactionSync nests.
    const nested = this.depth > 0
    const savepoint = `sp${this.depth}`
    this.db.exec(nested ? `SAVEPOINT ${savepoint}` : 'BEGIN')
    this.depth++
    try {
      const result = fn()
      this.depth--
      this.db.exec(nested ? `RELEASE ${savepoint}` : 'COMMIT')
      return result
    } catch (err) {
      this.depth--
      this.db.exec(nested ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : 'ROLLBACK')
      throw err
    }
  }

  private depth = 0

  close(): void {
    this.db.close()
  }
}

function cursor(rows: SqlRow[], rowsWritten: number): SqlCursor {
  return {
    toArray: () => rows,
    one: () => {
      if (rows.length !== 1) throw new Error(`expected exactly one row, got ${rows.length}`)
      return rows[0]!
    },
    rowsWritten,
  }
}

const MIGRATION_URLS = [
  new URL('../../migrations/0002_mvcc.sql', import.meta.url),
  new URL('../../migrations/0003_leases.sql', import.meta.url),
]

/** A fresh in-memory database with the MVCC and lease schemas (migrations 0002, 0003) applied. */
export function mvccSql(path = ':memory:'): NodeSql {
  const sql = new NodeSql(path)
  for (const url of MIGRATION_URLS) sql.exec(readFileSync(url, 'utf8'))
  return sql
}
