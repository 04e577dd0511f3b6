// Scale: ranges stay index-driven, so their cost follows what they return, not the store's size.
// Always: every statement the store runs for reads and writes is checked with EXPLAIN QUERY PLAN
// (no full scan of a table or index). With MVCC_SCALE=1: a 1,000,000-key store is built and
// single-key and prefix ranges are timed against a 10,000-key store; put and range throughput is
// printed (the store's ceiling on SQLite, for the benchmark report).
import { describe, expect, it } from 'vitest'
import { NodeSql, mvccSql } from '../../test/support/node-sql.ts'
import { KvStore } from './kv-store.ts'
import type { Sql, SqlCursor, SqlValue } from './sql.ts'
import {
  CompareResult,
  CompareTarget,
  SortOrder,
  SortTarget,
  deleteRangeRequest,
  putRequest,
  rangeRequest,
  txnRequest,
} from './types.ts'

const enc = new TextEncoder()
const b = (s: string): Uint8Array => enc.encode(s)
const key = (i: number): string => `key/${String(i).padStart(8, '0')}`

/** Records every statement the store runs. */
class RecordingSql implements Sql {
  readonly seen: { query: string; bindings: SqlValue[] }[] = []
  constructor(readonly inner: NodeSql) {}
  exec(query: string, ...bindings: SqlValue[]): SqlCursor {
    this.seen.push({ query, bindings })
    return this.inner.exec(query, ...bindings)
  }
}

function plan(sql: NodeSql, query: string, bindings: SqlValue[]): string[] {
  return sql
    .exec(`EXPLAIN QUERY PLAN ${query}`, ...bindings)
    .toArray()
    .map((row) => String(row['detail']))
}

function fill(store: KvStore, sql: NodeSql, n: number): void {
  sql.transactionSync(() => {
    for (let i = 0; i < n; i++) store.put(putRequest({ key: b(key(i)), value: b(`v${i}`) }))
  })
}

describe('index-driven access', () => {
  const sql = mvccSql()
  const store = new KvStore(sql)
  fill(store, sql, 2000)
  sql.transactionSync(() => {
    for (let i = 0; i < 2000; i += 7) store.put(putRequest({ key: b(key(i)), value: b('again') }))
  })
  const rec = new RecordingSql(sql)
  const probe = new KvStore(rec)

  // Each operation a member runs while serving: none may scan a whole table or index.
  it.each([
    ['single key', () => probe.range(rangeRequest({ key: b(key(5)) }))],
    [
      'prefix',
      () => probe.range(rangeRequest({ key: b('key/0000001'), rangeEnd: b('key/0000002') })),
    ],
    [
      'open-ended',
      () => probe.range(rangeRequest({ key: b(key(1990)), rangeEnd: new Uint8Array([0]) })),
    ],
    ['historical single key', () => probe.range(rangeRequest({ key: b(key(7)), revision: 100 }))],
    [
      'historical prefix',
      () =>
        probe.range(
          rangeRequest({ key: b('key/0000001'), rangeEnd: b('key/0000002'), revision: 1500 }),
        ),
    ],
    [
      'count only',
      () =>
        probe.range(
          rangeRequest({ key: b('key/00001'), rangeEnd: b('key/00002'), countOnly: true }),
        ),
    ],
    [
      'filtered + limit',
      () =>
        probe.range(
          rangeRequest({
            key: b('key/0000'),
            rangeEnd: b('key/0001'),
            minModRevision: 10,
            limit: 5,
          }),
        ),
    ],
    [
      'sorted by version',
      () =>
        probe.range(
          rangeRequest({
            key: b('key/00001'),
            rangeEnd: b('key/00002'),
            sortTarget: SortTarget.VERSION,
            sortOrder: SortOrder.DESCEND,
            limit: 3,
          }),
        ),
    ],
    [
      'put',
      () => sql.transactionSync(() => probe.put(putRequest({ key: b(key(3)), prevKv: true }))),
    ],
    [
      'delete prefix',
      () =>
        sql.transactionSync(() =>
          probe.deleteRange(
            deleteRangeRequest({ key: b('key/0000019'), rangeEnd: b('key/000002'), prevKv: true }),
          ),
        ),
    ],
    [
      'txn',
      () =>
        sql.transactionSync(() =>
          probe.txn(
            txnRequest({
              compare: [
                {
                  key: b(key(9)),
                  rangeEnd: new Uint8Array(0),
                  target: CompareTarget.VERSION,
                  result: CompareResult.GREATER,
                  version: 0,
                },
              ],
              success: [{ type: 'put', request: putRequest({ key: b(key(9)) }) }],
            }),
          ),
        ),
    ],
    ['watch replay', () => probe.eventsSince(2500, b('key/0000'), b('key/0001'), 10)],
  ])('%s uses indexes only', (_name, run) => {
    rec.seen.length = 0
    run()
    const scans = rec.seen.flatMap(({ query, bindings }) =>
      plan(sql, query, bindings)
        .filter((d) => /^SCAN\b/.test(d))
        .map((d) => `${d}  ←  ${query.replace(/\s+/g, ' ').slice(0, 120)}`),
    )
    expect(scans).toEqual([])
    expect(rec.seen.length).toBeGreaterThan(0)
  })
})

const SCALE = process.env['MVCC_SCALE'] === '1'

describe.skipIf(!SCALE)('1,000,000 keys (MVCC_SCALE=1)', () => {
  function opsPerSecond(n: number, run: (i: number) => void): number {
    const start = performance.now()
    for (let i = 0; i < n; i++) run(i)
    return (n / (performance.now() - start)) * 1000
  }

  function measure(size: number) {
    const db = mvccSql()
    const s = new KvStore(db)
    const fillStart = performance.now()
    fill(s, db, size)
    const fillPerSecond = (size / (performance.now() - fillStart)) * 1000
    const rnd = (i: number): number => (i * 7919) % size
    // As the member applies entries: one transaction (and one applied index) per put.
    const put = opsPerSecond(5000, (i) =>
      db.transactionSync(() => {
        s.put(putRequest({ key: b(key(rnd(i))), value: b('updated') }))
        s.setAppliedIndex(i + 1)
      }),
    )
    const single = opsPerSecond(5000, (i) => s.range(rangeRequest({ key: b(key(rnd(i))) })))
    const prefix = opsPerSecond(500, (i) => {
      const p = `key/${String(Math.floor(rnd(i) / 100)).padStart(6, '0')}`
      const r = s.range(rangeRequest({ key: b(p), rangeEnd: b(p + '\x7f') }))
      expect(r.count).toBe(100)
    })
    const compactStart = performance.now()
    db.transactionSync(() => s.compact(s.currentRevision()))
    const compactMs = performance.now() - compactStart
    const hashStart = performance.now()
    s.hashKV(0)
    const hashMs = performance.now() - hashStart
    return { size, fillPerSecond, put, single, prefix, compactMs, hashMs }
  }

  it(
    'keeps single-key and 100-key prefix ranges as fast at 1M keys as at 10k',
    () => {
      const small = measure(10_000)
      const large = measure(1_000_000)
      const fmt = (r: ReturnType<typeof measure>): string =>
        `${r.size} keys: fill ${r.fillPerSecond.toFixed(0)} puts/s (one txn), ` +
        `put ${r.put.toFixed(0)}/s (txn each), get ${r.single.toFixed(0)}/s, ` +
        `prefix(100) ${r.prefix.toFixed(0)}/s, compact ${r.compactMs.toFixed(0)} ms, ` +
        `hashKV ${r.hashMs.toFixed(0)} ms`
      console.log(`MVCC store on node:sqlite\n  ${fmt(small)}\n  ${fmt(large)}`)
      // B-tree depth grows by a level or two; a scan would be 100× slower.
      expect(small.single / large.single).toBeLessThan(4)
      expect(small.prefix / large.prefix).toBeLessThan(4)
    },
    30 * 60_000,
  )
})
