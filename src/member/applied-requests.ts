// The request ids member_requests holds, kept in memory so that applying a new request (nearly
// every entry) needs no lookup: the SELECT was one of five SQL statements per put on every
// member. The set always contains every id in the table (it may hold more): an id it has is
// looked up in SQL as before, an id it lacks is certainly new. It is reloaded from the table
// after anything that changed the table behind it (a snapshot restored, a rollback).
import type { Sql } from '../mvcc/sql.ts'

export class AppliedRequestIds {
  /** request id → the index it was applied at; undefined until first needed. */
  private ids: Map<string, number> | undefined

  constructor(private readonly sql: Sql) {}

  /** False only if the table certainly has no row for `id`. */
  mayHave(id: string): boolean {
    return this.load().has(id)
  }

  /** A row for `id` was inserted. */
  added(id: string, index: number): void {
    this.ids?.set(id, index)
  }

  /** Rows applied before `index` were deleted. */
  forgotBefore(index: number): void {
    if (!this.ids) return
    for (const [id, i] of this.ids) if (i < index) this.ids.delete(id)
  }

  /** The table changed behind this set: read it again when next needed. */
  reload(): void {
    this.ids = undefined
  }

  private load(): Map<string, number> {
    if (!this.ids) {
      this.ids = new Map()
      const rows = this.sql.exec('SELECT request_id, applied_index FROM member_requests').toArray()
      for (const row of rows) this.ids.set(String(row['request_id']), Number(row['applied_index']))
    }
    return this.ids
  }
}
