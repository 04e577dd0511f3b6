// The member's state as a raft snapshot payload: every row of the MVCC tables and of the
// applied-request table, so a follower that fell behind the compacted log gets byte-identical
// state (same HashKV) as the member that sent it. BLOBs travel as base64.
// Limit: the payload is one string; DESIGN.md's chunked install is left for a later issue.
import { decodeBase64Go, encodeBase64 } from '../api/go-json.ts'
import type { Sql, SqlRow, SqlValue } from '../mvcc/sql.ts'
import { toBytes } from '../mvcc/sql.ts'

/** The tables a snapshot carries, with their BLOB columns. */
const TABLES: { name: string; blobs: string[] }[] = [
  { name: 'mvcc_meta', blobs: [] },
  { name: 'mvcc_history', blobs: ['key', 'value'] },
  { name: 'mvcc_latest', blobs: ['key'] },
  { name: 'member_requests', blobs: [] },
  { name: 'cluster_members', blobs: [] },
  { name: 'restore_staging', blobs: [] },
  { name: 'member_alarms', blobs: [] },
]

type Cell = string | number | null | { b64: string }

/** Serializes the replicated state. */
export function exportState(sql: Sql): string {
  const tables: Record<string, { columns: string[]; rows: Cell[][] }> = {}
  for (const table of TABLES) {
    const rows = sql.exec(`SELECT * FROM ${table.name}`).toArray()
    const columns = rows[0] ? Object.keys(rows[0]) : []
    tables[table.name] = {
      columns,
      rows: rows.map((row) => columns.map((c) => toCell(row, c, table.blobs.includes(c)))),
    }
  }
  return JSON.stringify({ version: 1, tables })
}

/** Replaces the replicated state with an exported one (inside the caller's transaction). */
export function importState(sql: Sql, data: string): void {
  const parsed = JSON.parse(data) as {
    version: number
    tables: Record<string, { columns: string[]; rows: Cell[][] }>
  }
  if (parsed.version !== 1) throw new Error(`unknown snapshot version ${parsed.version}`)
  for (const table of TABLES) {
    sql.exec(`DELETE FROM ${table.name}`)
    const t = parsed.tables[table.name]
    if (!t || t.columns.length === 0) continue
    const insert =
      `INSERT INTO ${table.name} (${t.columns.join(', ')}) ` +
      `VALUES (${t.columns.map(() => '?').join(', ')})`
    for (const row of t.rows) sql.exec(insert, ...row.map(fromCell))
  }
}

function toCell(row: SqlRow, column: string, blob: boolean): Cell {
  const v = row[column]
  if (blob) return { b64: encodeBase64(toBytes(v)) }
  if (typeof v === 'string' || typeof v === 'number' || v === null) return v
  if (v === undefined) return null
  return { b64: encodeBase64(toBytes(v)) }
}

function fromCell(cell: Cell): SqlValue {
  if (cell !== null && typeof cell === 'object') return decodeBase64Go(cell.b64)
  return cell
}
