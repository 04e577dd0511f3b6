// The narrow, synchronous SQL surface the MVCC store needs. Cloudflare's `ctx.storage.sql`
// satisfies it as is; tests use test/support/node-sql.ts over Node's built-in node:sqlite.
// Durable Object SQLite forbids BEGIN/COMMIT: the caller (the member) wraps every apply in
// `ctx.storage.transactionSync`, so the store never opens a transaction itself.

/** A value SQLite can bind or return. BLOBs come back as ArrayBuffer (DO) or Uint8Array (Node). */
export type SqlValue = string | number | null | ArrayBuffer | Uint8Array

/** One result row, column name → value. */
export type SqlRow = Record<string, SqlValue>

/** The cursor `exec` returns. */
export interface SqlCursor {
  toArray(): SqlRow[]
  one(): SqlRow
  readonly rowsWritten: number
}

/** `ctx.storage.sql` as the store sees it. */
export interface Sql {
  exec(query: string, ...bindings: SqlValue[]): SqlCursor
}

/** A BLOB column as bytes, whatever the driver returned. */
export function toBytes(v: SqlValue | undefined): Uint8Array {
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  if (v === null || v === undefined) return new Uint8Array(0)
  if (typeof v === 'string') return new TextEncoder().encode(v)
  throw new Error(`expected a BLOB, got ${typeof v}`)
}

/** An INTEGER column as a JS number (revisions, versions: always below 2^53). */
export function toNum(v: SqlValue | undefined): number {
  if (typeof v === 'number') return v
  if (typeof v === 'string') return Number(v)
  if (typeof v === 'bigint') return Number(v)
  throw new Error(`expected an INTEGER, got ${v === null ? 'null' : typeof v}`)
}

/** A TEXT column holding an int64 in decimal (lease IDs) as bigint. */
export function toBigInt(v: SqlValue | undefined): bigint {
  if (typeof v === 'string' || typeof v === 'number') return BigInt(v)
  throw new Error(`expected a decimal TEXT, got ${v === null ? 'null' : typeof v}`)
}
