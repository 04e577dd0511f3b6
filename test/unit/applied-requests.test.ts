// The in-memory set of applied request ids (src/member/applied-requests.ts) must always cover
// every id in member_requests, or a retried request would apply twice.
import { describe, expect, it } from 'vitest'
import { AppliedRequestIds } from '../../src/member/applied-requests.ts'
import { applyMigrations } from '../../src/member/migrations.ts'
import { NodeSql } from '../support/node-sql.ts'

function table(): NodeSql {
  const sql = new NodeSql()
  applyMigrations({ sql, transactionSync: (fn) => sql.transactionSync(fn) })
  return sql
}

const insert = (sql: NodeSql, id: string, index: number) =>
  sql.exec(
    'INSERT INTO member_requests (request_id, applied_index, response) VALUES (?, ?, ?)',
    id,
    index,
    '{}',
  )

describe('AppliedRequestIds', () => {
  it('knows the ids already in the table, then the ones added, and forgets deleted ones', () => {
    const sql = table()
    insert(sql, 'old', 1)
    const ids = new AppliedRequestIds(sql)
    expect(ids.mayHave('old')).toBe(true)
    expect(ids.mayHave('new')).toBe(false)
    insert(sql, 'new', 5)
    ids.added('new', 5)
    expect(ids.mayHave('new')).toBe(true)
    sql.exec('DELETE FROM member_requests WHERE applied_index < ?', 3)
    ids.forgotBefore(3)
    expect(ids.mayHave('old')).toBe(false)
    expect(ids.mayHave('new')).toBe(true)
  })

  it('reads the table again after a rollback undid a delete', () => {
    const sql = table()
    insert(sql, 'a', 1)
    const ids = new AppliedRequestIds(sql)
    expect(ids.mayHave('a')).toBe(true)
    expect(() =>
      sql.transactionSync(() => {
        sql.exec('DELETE FROM member_requests WHERE applied_index < ?', 2)
        ids.forgotBefore(2)
        throw new Error('rolled back')
      }),
    ).toThrow('rolled back')
    // Without a reload the set would miss a row the table still has.
    expect(ids.mayHave('a')).toBe(false)
    ids.reload()
    expect(ids.mayHave('a')).toBe(true)
  })
})
