import { describe, expect, it } from 'vitest'
import { NodeSql } from '../../test/support/node-sql.ts'
import { KvStore } from '../mvcc/kv-store.ts'
import { exportState, importState } from './kv-snapshot.ts'
import { applyMigrations } from './migrations.ts'
import { applyRestore, RESTORE_CHUNK_CHARS, restoreEntries, type RestoreEntry } from './restore.ts'

const bytes = (s: string) => new TextEncoder().encode(s)

function store(): { sql: NodeSql; kv: KvStore } {
  const sql = new NodeSql()
  applyMigrations({ sql, transactionSync: (fn) => sql.transactionSync(fn) })
  return { sql, kv: new KvStore(sql) }
}

/** A saved store of `n` keys with values of `size` bytes. */
function savedStore(n: number, size: number): { file: string; hash: number; revision: number } {
  const { sql, kv } = store()
  for (let i = 0; i < n; i++) {
    sql.transactionSync(() =>
      kv.put({
        key: bytes(`k${i}`),
        value: bytes('v'.repeat(size)),
        lease: 0n,
        prevKv: false,
        ignoreValue: false,
        ignoreLease: false,
      }),
    )
  }
  return { file: exportState(sql), hash: kv.hashKV().hash, revision: kv.currentRevision() }
}

function apply(target: ReturnType<typeof store>, entries: string[], first = 1) {
  return entries.map((e, i) =>
    target.sql.transactionSync(() =>
      applyRestore(target.sql, target.kv, JSON.parse(e) as RestoreEntry, first + i, (file) =>
        importState(target.sql, file),
      ),
    ),
  )
}

describe('restore through raft entries', () => {
  it('splits a big file into chunks and applies it only with the last one', () => {
    const source = savedStore(40, 20_000)
    const entries = restoreEntries('r1', source.file)
    expect(entries.length).toBe(Math.ceil(source.file.length / RESTORE_CHUNK_CHARS))
    expect(entries.length).toBeGreaterThan(2)
    const target = store()
    const outcomes = apply(target, entries)
    // Before the last chunk nothing is visible; after it, the whole store.
    expect(outcomes.slice(0, -1).every((o) => o === undefined)).toBe(true)
    expect(outcomes.at(-1)).toEqual({
      ok: true,
      message: `restored at revision ${source.revision}`,
    })
    expect(target.kv.hashKV().hash).toBe(source.hash)
    expect(target.sql.exec('SELECT COUNT(*) AS n FROM restore_staging').one()['n']).toBe(0)
  })

  it('answers a retried restore with its first outcome, and refuses a store with data', () => {
    const source = savedStore(3, 10)
    const target = store()
    const entries = restoreEntries('r1', source.file)
    apply(target, entries)
    expect(apply(target, entries, 10).at(-1)).toMatchObject({ ok: true })
    const other = apply(target, restoreEntries('r2', source.file), 20).at(-1)
    expect(other).toEqual({ ok: false, message: 'restore refused: the cluster already holds data' })
  })

  it('refuses a file with chunks missing, the same way on every member', () => {
    const source = savedStore(40, 20_000)
    const entries = restoreEntries('r1', source.file)
    const target = store()
    const outcomes = apply(target, entries.slice(1))
    expect(outcomes.at(-1)).toEqual({ ok: false, message: 'restore refused: 1 chunks missing' })
    expect(target.kv.currentRevision()).toBe(1)
  })
})
