// Property tests: random sequences of put / delete / txn / compact against a deliberately simple
// in-memory model (a full snapshot per revision), then every kind of range at random revisions
// must agree with the model. Plus determinism: two stores fed the same operations end with the
// same HashKV and byte-identical dumps.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { mvccSql } from '../../test/support/node-sql.ts'
import { CompactedError, FutureRevError } from './errors.ts'
import { compareBytes } from './key-range.ts'
import { KvStore } from './kv-store.ts'
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
import type { KeyValue, RangeRequest } from './types.ts'

const enc = new TextEncoder()
const KEYS = ['a', 'b', 'b/1', 'b/2', 'c', 'd'] // ≤ 12 keys: Go's sort is stable here
const VALUES = ['', '1', '2', '3']

interface ModelKv {
  value: string
  create: number
  mod: number
  version: number
}

/** The reference: the whole key space at every revision, and nothing clever. */
class Model {
  snapshots: Map<string, ModelKv>[] = [new Map(), new Map()] // revisions 0 and 1: empty
  compacted = -1

  get rev(): number {
    return this.snapshots.length - 1
  }

  private write(apply: (next: Map<string, ModelKv>, rev: number) => boolean): void {
    const next = new Map(this.snapshots[this.rev]!)
    if (apply(next, this.rev + 1)) this.snapshots.push(next)
  }

  put(key: string, value: string): void {
    this.write((m, rev) => {
      const old = m.get(key)
      m.set(key, { value, create: old?.create ?? rev, mod: rev, version: (old?.version ?? 0) + 1 })
      return true
    })
  }

  del(from: string, to: string | null): void {
    this.write((m) => {
      const doomed = [...m.keys()].filter((k) => inSpan(k, from, to))
      for (const k of doomed) m.delete(k)
      return doomed.length > 0
    })
  }

  /** txn: if value(key) == v then put(key2, v2) else delete(key2). */
  casTxn(key: string, v: string, key2: string, v2: string): void {
    const cur = this.snapshots[this.rev]!.get(key)
    if (cur !== undefined && cur.value === v) this.put(key2, v2)
    else this.del(key2, null)
  }

  compact(rev: number): 'ok' | 'compacted' | 'future' {
    if (rev <= this.compacted) return 'compacted'
    if (rev > this.rev) return 'future'
    this.compacted = rev
    return 'ok'
  }

  range(req: RangeRequest, from: string, to: string | null) {
    let rev = req.revision
    if (rev > this.rev) return 'future'
    if (rev <= 0) rev = this.rev
    if (rev < this.compacted) return 'compacted'
    const all = [...this.snapshots[rev]!.entries()]
      .filter(([k]) => inSpan(k, from, to))
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    const count = all.length
    if (req.countOnly) return { keys: [], count, more: false }
    const filtered =
      req.minModRevision || req.maxModRevision || req.minCreateRevision || req.maxCreateRevision
    let kvs = all.filter(
      ([, v]) =>
        (!req.minModRevision || v.mod >= req.minModRevision) &&
        (!req.maxModRevision || v.mod <= req.maxModRevision) &&
        (!req.minCreateRevision || v.create >= req.minCreateRevision) &&
        (!req.maxCreateRevision || v.create <= req.maxCreateRevision),
    )
    if (req.sortOrder === SortOrder.NONE && !filtered && req.limit > 0) {
      kvs = kvs.slice(0, req.limit + 1) // etcd fetches limit + 1 and sorts only those
    }
    let order = req.sortOrder
    if (req.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND
    const field = (v: [string, ModelKv]): number | string =>
      [v[0], v[1].version, v[1].create, v[1].mod, v[1].value][req.sortTarget]!
    const cmp = (x: [string, ModelKv], y: [string, ModelKv]): number => {
      const a = field(x)
      const b = field(y)
      return a < b ? -1 : a > b ? 1 : 0
    }
    if (order === SortOrder.ASCEND) kvs.sort(cmp) // stable: ties keep key order
    if (order === SortOrder.DESCEND) kvs.sort((x, y) => cmp(y, x))
    const more = req.limit > 0 && kvs.length > req.limit
    if (more) kvs = kvs.slice(0, req.limit)
    return {
      keys: kvs.map(
        ([k, v]) => `${k}=${req.keysOnly ? '' : v.value}@${v.create}/${v.mod}/${v.version}`,
      ),
      count,
      more,
    }
  }
}

function inSpan(k: string, from: string, to: string | null): boolean {
  if (to === null) return k === from
  if (to === '\0') return k >= from
  return k >= from && k < to
}

const dec = new TextDecoder()
function observed(kvs: KeyValue[]): string[] {
  return kvs.map(
    (kv) =>
      `${dec.decode(kv.key)}=${dec.decode(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`,
  )
}

const key = fc.constantFrom(...KEYS)
const value = fc.constantFrom(...VALUES)
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), key, value }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('del' as const),
      key,
      end: fc.option(fc.constantFrom('b0', 'c', 'z', '\0'), { nil: null }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('txn' as const), key, value, key2: key, value2: value }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(6) }) },
)
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

const query = fc.record({
  span: fc.constantFrom<[string, string | null]>(
    ['a', null],
    ['b', null],
    ['b/', 'b0'],
    ['a', 'c'],
    ['\0', '\0'],
    ['c', '\0'],
    ['d', 'a'],
  ),
  back: fc.nat(12),
  limit: fc.constantFrom(0, 0, 1, 2, 3, -1),
  sortOrder: fc.constantFrom(0, 1, 2),
  sortTarget: fc.constantFrom(0, 1, 2, 3, 4),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minMod: fc.option(fc.nat(15), { nil: 0 }),
  maxCreate: fc.option(fc.nat(15), { nil: 0 }),
})

function applyOp(store: KvStore, model: Model, o: Op): void {
  const b = (s: string): Uint8Array => enc.encode(s)
  switch (o.t) {
    case 'put':
      store.put(putRequest({ key: b(o.key), value: b(o.value) }))
      model.put(o.key, o.value)
      break
    case 'del':
      store.deleteRange(deleteRangeRequest({ key: b(o.key), rangeEnd: b(o.end ?? '') }))
      model.del(o.key, o.end)
      break
    case 'txn':
      store.txn(
        txnRequest({
          compare: [
            {
              key: b(o.key),
              rangeEnd: new Uint8Array(0),
              target: CompareTarget.VALUE,
              result: CompareResult.EQUAL,
              value: b(o.value),
            },
          ],
          success: [{ type: 'put', request: putRequest({ key: b(o.key2), value: b(o.value2) }) }],
          failure: [{ type: 'deleteRange', request: deleteRangeRequest({ key: b(o.key2) }) }],
        }),
      )
      model.casTxn(o.key, o.value, o.key2, o.value2)
      break
    case 'compact': {
      const rev = model.rev - o.back
      const want = model.compact(rev)
      const got = (() => {
        try {
          store.compact(rev)
          return 'ok'
        } catch (e) {
          if (e instanceof CompactedError) return 'compacted'
          if (e instanceof FutureRevError) return 'future'
          throw e
        }
      })()
      expect(got).toBe(want)
      break
    }
  }
}

describe('KvStore against the reference model', () => {
  it('agrees on every range after random operations', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.array(query, { maxLength: 15 }),
        (ops, queries) => {
          const store = new KvStore(mvccSql())
          const model = new Model()
          for (const o of ops) applyOp(store, model, o)
          expect(store.currentRevision()).toBe(model.rev)
          for (const q of queries) {
            const req = rangeRequest({
              key: enc.encode(q.span[0]),
              rangeEnd: enc.encode(q.span[1] ?? ''),
              revision: model.rev - q.back,
              limit: q.limit,
              sortOrder: q.sortOrder,
              sortTarget: q.sortTarget,
              keysOnly: q.keysOnly,
              countOnly: q.countOnly,
              minModRevision: q.minMod,
              maxCreateRevision: q.maxCreate,
            })
            const want = model.range(req, q.span[0], q.span[1])
            let got: unknown
            try {
              const r = store.range(req)
              got = { keys: observed(r.kvs), count: r.count, more: r.more }
            } catch (e) {
              if (e instanceof CompactedError) got = 'compacted'
              else if (e instanceof FutureRevError) got = 'future'
              else throw e
            }
            expect(got).toEqual(want)
          }
        },
      ),
      { numRuns: 150 },
    )
  })

  it('is deterministic: the same operations give the same HashKV and byte-identical state', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const [s1, s2] = [new KvStore(mvccSql()), new KvStore(mvccSql())]
        const [m1, m2] = [new Model(), new Model()]
        for (const o of ops) {
          applyOp(s1, m1, o)
          applyOp(s2, m2, o)
        }
        expect(s1.hashKV(0)).toEqual(s2.hashKV(0))
        expect(s1.dump()).toBe(s2.dump())
      }),
      { numRuns: 60 },
    )
  })

  it('orders history bytewise, as etcd (keys compare as bytes, not strings)', () => {
    const s = new KvStore(mvccSql())
    const keys = [[0xff], [0x00], [0x61], [0x61, 0x00], [0xc3, 0xa9]].map((k) => Uint8Array.from(k))
    for (const k of keys) s.put(putRequest({ key: k }))
    const got = s.range(rangeRequest({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) }))
    const sorted = [...keys].sort(compareBytes)
    expect(got.kvs.map((kv) => [...kv.key])).toEqual(sorted.map((k) => [...k]))
  })
})
