// Scripted KV request sequences for the differential conformance test. Every step is sent, in
// order, to real etcd 3.4 and to edge-etcd; both start empty, so revisions must match exactly.
// Bodies are strings where the raw bytes matter (malformed JSON), objects otherwise.

/** One request of a sequence. */
export interface Step {
  path: string
  body: string | object
  /** Why this step is here (printed on a mismatch). */
  note?: string
}

/** base64 of a UTF-8 string. */
export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

const range = (body: object | string, note?: string): Step => ({ path: '/v3/kv/range', body, note })
const put = (body: object | string, note?: string): Step => ({ path: '/v3/kv/put', body, note })
const del = (body: object | string, note?: string): Step => ({
  path: '/v3/kv/deleterange',
  body,
  note,
})
const txn = (body: object | string, note?: string): Step => ({ path: '/v3/kv/txn', body, note })
const compact = (body: object | string, note?: string): Step => ({
  path: '/v3/kv/compaction',
  body,
  note,
})

const k = b64

/** Malformed bodies, bad types, bad base64: etcd's gateway decoding errors. */
export const badInput: Step[] = [
  range('', 'empty body is {}: key is not provided'),
  range('   \n', 'whitespace body'),
  range('null'),
  range('{'),
  range('{"key":'),
  range('{"key":"YQ=='),
  range('not json'),
  range('}'),
  range('[]'),
  range('"str"'),
  range('123'),
  range('true'),
  range('{"key":}'),
  range('{"key" "YQ=="}'),
  range('{"key":"YQ==",}'),
  range('{"key":"YQ==" "x":1}'),
  range('{1:2}'),
  range('{"key":tru}'),
  range('{"key":nul}'),
  range('{"key":"\u0001"}', 'control character in string'),
  range('{"key":"\\q"}', 'bad escape'),
  range('{"key":"\\u12x4"}', 'bad \\u escape'),
  range('{"key":-}'),
  range('{"key":1.}'),
  range('{"key":1e}'),
  range('{"key":"YQ=="}garbage', 'trailing data after the value is ignored'),
  range('{"key":"YQ=="} {"key":"Yg=="}'),
  range({ key: '!!!' }, 'invalid base64'),
  range({ key: 'YQ' }, 'base64 missing padding'),
  range({ key: 'YQ=a' }),
  range({ key: 'Y Q==' }),
  range({ key: 'YWJjZGVmZ2hp!' }),
  range({ key: 'YQ===' }),
  range({ key: '====' }),
  range({ key: 'Y===' }),
  range({ key: 'YQ==YQ==' }, 'data after padding'),
  range({ key: 'YQ==\n' }, 'newlines are skipped'),
  range({ key: 'YR==' }, 'non-zero trailing bits are accepted'),
  range({ key: 'YW-_' }, 'URL alphabet is not accepted'),
  range({ key: 123 }, 'bytes from a number'),
  range({ key: true }),
  range({ key: {} }),
  range({ key: [97, 98] }, 'bytes from an array of numbers'),
  range({ key: [300] }),
  range({ key: ['a'] }),
  range({ key: null }),
  range({ key: k('a'), limit: 'abc' }, 'int64 as a bad string'),
  range({ key: k('a'), limit: '1.5' }),
  range({ key: k('a'), limit: 1.5 }),
  range({ key: k('a'), limit: 1e2 }),
  range({ key: k('a'), limit: true }),
  range({ key: k('a'), limit: {} }),
  range({ key: k('a'), limit: [] }),
  range({ key: k('a'), limit: '' }),
  range({ key: k('a'), limit: '99999999999999999999' }),
  range('{"key":"YQ==","limit":99999999999999999999}'),
  range({ key: k('a'), limit: '-1' }),
  range({ key: k('a'), limit: null }),
  range({ key: k('a'), limit: '1 2' }, 'quoted int64 is re-parsed as a JSON document'),
  range({ key: k('a'), limit: ' 5' }),
  range({ key: k('a'), limit: '"5"' }),
  range('[1 2]'),
  range('['.repeat(10_001) + ']'.repeat(10_001), 'nesting deeper than Go allows'),
  range('['.repeat(10_000) + ']'.repeat(10_000)),
  range('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)),
  range("{'a':1}"),
  range({ key: 'YQ=' }),
  range({ key: 'Y\r\nQ==' }),
  range({ key: k('a'), keys_only: 'true' }, 'bool as a string'),
  range({ key: k('a'), keys_only: 1 }),
  range({ key: k('a'), sort_order: 'BOGUS' }, 'unknown enum name'),
  range({ key: k('a'), sort_order: 'descend' }),
  range({ key: k('a'), sort_order: true }),
  range({ key: k('a'), sort_order: 1.5 }),
  range({ key: k('a'), sort_target: 'NOPE' }),
  range({ key: k('a'), unknown_field: 1, another: { x: 1 } }, 'unknown fields are ignored'),
  put({ key: k('a'), prev_kv: 'x' }),
  put({ key: k('a'), lease: 'x' }),
  txn({ compare: {} }, 'repeated field given an object'),
  txn({ compare: 'x' }),
  txn({ success: [{ request_put: 'x' }] }),
  txn({ success: [{ request_put: { key: 5 } }] }),
  txn({ compare: [{ key: k('a'), result: 'SAME' }] }),
  txn({ compare: [{ key: k('a'), target: 'SIZE' }] }),
  compact({ revision: 'x' }),
  compact({ physical: 'yes' }),
]

/** Request validation before Raft: empty keys, flag conflicts, txn shape. */
export const validation: Step[] = [
  range({}, 'key is not provided'),
  put({}),
  put({ value: k('v') }),
  del({}),
  del({ range_end: k('z') }),
  put({ key: k('a'), ignore_value: true, value: k('v') }, 'value is provided'),
  put({ key: k('a'), ignore_lease: true, lease: '5' }, 'lease is provided'),
  put({ key: k('missing'), ignore_value: true }, 'key not found'),
  put({ key: k('missing'), ignore_lease: true }),
  put({ key: k('a'), lease: '123' }, 'lease not found'),
  put({ key: k('a'), lease: -1 }),
  txn({ success: [{}] }, 'empty op: key not found'),
  txn({ failure: [{ request_range: {} }] }),
  txn({ compare: [{ target: 'VERSION' }] }, 'compare without a key'),
  txn({ success: [{ request_put: {} }] }),
  txn({ success: [{ request_delete_range: {} }] }),
  txn({ success: [{ request_put: { key: k('a'), ignore_value: true, value: k('x') } }] }),
  txn({ success: [{ request_txn: { success: [{ request_put: {} }] } }] }),
  txn({ success: [{ request_put: { key: k('a') } }, { request_put: { key: k('a') } }] }, 'dup'),
  txn({
    success: [
      { request_put: { key: k('a') } },
      { request_delete_range: { key: k('a'), range_end: k('b') } },
    ],
  }),
  txn({ success: [{ request_put: { key: k('a') } }, { request_delete_range: { key: k('a') } }] }),
  txn(
    {
      success: [
        { request_put: { key: k('b') } },
        { request_delete_range: { key: k('a'), range_end: '\0' } },
      ],
    },
    'etcd quirk: a [key, "\\0") delete does not conflict',
  ),
  txn({
    success: [
      { request_put: { key: k('a') } },
      { request_txn: { success: [{ request_put: { key: k('a') } }] } },
    ],
  }),
  txn({
    success: [
      {
        request_txn: {
          success: [{ request_put: { key: k('n1') } }],
          failure: [{ request_put: { key: k('n1') } }],
        },
      },
    ],
  }),
  txn({
    success: [
      { request_delete_range: { key: k('p'), range_end: k('q') } },
      { request_txn: { success: [{ request_put: { key: k('p1') } }] } },
    ],
  }),
  txn({
    success: [
      { request_txn: { success: [{ request_delete_range: { key: k('x') } }] } },
      { request_put: { key: k('x') } },
    ],
  }),
  txn({ success: [{ request_put: { key: k('a') } }], failure: [{ request_put: { key: k('a') } }] }),
  txn({ success: manyPuts(129) }, 'too many ops'),
  txn({ compare: manyCompares(129) }),
  txn({ success: manyPuts(128) }, '128 ops are fine'),
  txn({ success: [{ request_txn: { success: manyPuts(100) } }, ...manyPuts(28, 'w')] }),
  txn({ success: [{ request_txn: { success: manyPuts(101) } }, ...manyPuts(28, 'w')] }),
]

function manyPuts(n: number, prefix = 'op'): object[] {
  return Array.from({ length: n }, (_, i) => ({ request_put: { key: k(`${prefix}${i}`) } }))
}

function manyCompares(n: number): object[] {
  return Array.from({ length: n }, (_, i) => ({ key: k(`c${i}`), target: 'VERSION' }))
}

/** Puts, ranges with every option, deletes: the bread and butter. */
export const kvBasics: Step[] = [
  put({ key: k('a'), value: k('1') }),
  put({ key: k('b'), value: k('22') }),
  put({ key: k('c'), value: k('3') }),
  put({ key: k('a'), value: k('11'), prev_kv: true }, 'prev_kv'),
  put({ key: k('foo/1'), value: k('x') }),
  put({ key: k('foo/2'), value: k('y') }),
  put({ key: k('foo/3'), value: k('aa') }),
  put({ key: k('foo/2'), value: k('yy') }),
  put({ key: k('foo0'), value: k('outside') }),
  put({ key: k('fon'), value: k('') }, 'empty value'),
  put({ key: k('e'), value: k('v'), lease: '0' }),
  put({ key: k('a'), ignore_value: true, prev_kv: true }, 'ignore_value keeps the value'),
  put({ key: k('a'), value: k('12'), ignore_lease: true }),
  put({ key: Buffer.from([0xff, 0x00]).toString('base64'), value: k('bin') }),
  range({ key: k('a') }),
  range({ key: k('zzz') }, 'missing key'),
  range({ key: k('a'), range_end: k('c') }),
  range({ key: k('foo/'), range_end: k('foo0') }, 'prefix'),
  range({ key: k('foo'), range_end: '\0' }),
  range({ key: k('foo'), range_end: 'AA==' }, 'range_end \\0: all keys >= key'),
  range({ key: 'AA==', range_end: 'AA==' }, 'all keys'),
  range({ key: k('c'), range_end: k('a') }, 'range_end < key: nothing'),
  range({ key: 'AA==', range_end: 'AA==', limit: 2 }, 'limit: more, count unaffected'),
  range({ key: 'AA==', range_end: 'AA==', limit: 1, keys_only: true }),
  range({ key: 'AA==', range_end: 'AA==', limit: 100 }),
  range({ key: 'AA==', range_end: 'AA==', limit: -3 }),
  range({ key: 'AA==', range_end: 'AA==', count_only: true }),
  range({ key: 'AA==', range_end: 'AA==', count_only: true, limit: 1 }),
  range({ key: k('foo/'), range_end: k('foo0'), keys_only: true }),
  range({ key: k('a'), serializable: true }),
  range({ key: k('a'), revision: 2 }, 'historical read'),
  range({ key: k('a'), revision: 4 }),
  range({ key: 'AA==', range_end: 'AA==', revision: 6 }),
  range({ key: 'AA==', range_end: 'AA==', revision: 6, limit: 2 }),
  range({ key: 'AA==', range_end: 'AA==', revision: 1 }),
  range({ key: k('a'), revision: 1000 }, 'future revision'),
  range({ key: k('a'), revision: -5 }),
  ...['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'].flatMap((target) =>
    ['NONE', 'ASCEND', 'DESCEND'].map((order) =>
      range({ key: 'AA==', range_end: 'AA==', sort_target: target, sort_order: order }),
    ),
  ),
  range({ key: 'AA==', range_end: 'AA==', sort_target: 'VALUE', sort_order: 'DESCEND', limit: 3 }),
  range({ key: 'AA==', range_end: 'AA==', sort_target: 2, sort_order: 2, limit: 2 }),
  range({ key: 'AA==', range_end: 'AA==', sort_order: 7 }, 'unknown sort order number'),
  range({ key: 'AA==', range_end: 'AA==', sortOrder: 'DESCEND', sortTarget: 'MOD' }),
  range({ key: 'AA==', range_end: 'AA==', min_mod_revision: 5 }),
  range({ key: 'AA==', range_end: 'AA==', max_mod_revision: 5 }),
  range({ key: 'AA==', range_end: 'AA==', min_create_revision: 4, max_create_revision: 7 }),
  range({ key: 'AA==', range_end: 'AA==', min_mod_revision: 5, limit: 2 }),
  range({ key: 'AA==', range_end: 'AA==', maxModRevision: 6, minCreateRevision: 3 }),
  range({ key: 'AA==', range_end: 'AA==', min_mod_revision: 5, count_only: true }),
  range({ key: k('a'), rangeEnd: k('c'), keysOnly: true, countOnly: false }, 'lowerCamel'),
  range({ key: k('a'), rangeEnd: k('c'), range_end: k('b') }, 'both names: lowerCamel wins'),
  del({ key: k('nothing') }, 'deleting nothing keeps the revision'),
  del({ key: k('c'), prev_kv: true }),
  del({ key: k('foo/'), range_end: k('foo0'), prevKv: true }),
  range({ key: 'AA==', range_end: 'AA==' }),
  put({ key: k('c'), value: k('again') }, 'recreated: version 1, new create_revision'),
  range({ key: k('c') }),
  range({ key: k('c'), revision: 4 }),
  range({ key: k('foo/'), range_end: k('foo0'), revision: 9 }),
  del({ key: k('zz'), range_end: '\0' }),
  del({ key: k('a'), range_end: k('b'), prev_kv: true }),
]

/** Txn compares on every target × result, branches, nested txns. */
export const txns: Step[] = [
  put({ key: k('t1'), value: k('m') }),
  put({ key: k('t2'), value: k('n') }),
  put({ key: k('t2'), value: k('o') }),
  ...['EQUAL', 'NOT_EQUAL', 'GREATER', 'LESS'].flatMap((result) => [
    txn({
      compare: [{ key: k('t2'), target: 'VALUE', result, value: k('o') }],
      success: [{ request_range: { key: k('t2') } }],
    }),
    txn({ compare: [{ key: k('t2'), target: 'VERSION', result, version: '2' }] }),
    txn({ compare: [{ key: k('t1'), target: 'CREATE', result, create_revision: 30 }] }),
    txn({ compare: [{ key: k('t2'), target: 'MOD', result, mod_revision: '100' }] }),
    txn({ compare: [{ key: k('t1'), target: 'LEASE', result, lease: '0' }] }),
    txn({
      compare: [{ key: k('t1'), range_end: k('t3'), target: 'VERSION', result, version: 1 }],
    }),
  ]),
  txn({ compare: [{ key: k('none'), target: 'VALUE', result: 'EQUAL', value: '' }] }, 'no key'),
  txn({ compare: [{ key: k('none'), target: 'VERSION', result: 'EQUAL', version: 0 }] }),
  txn({ compare: [{ key: k('none'), target: 'CREATE', result: 'EQUAL' }] }),
  txn({ compare: [{ key: k('t2'), target: 'VERSION', result: 'EQUAL', value: k('x') }] }),
  txn({ compare: [{ key: k('t2'), target: 2, result: 1, mod_revision: 1 }] }, 'enum numbers'),
  txn({ compare: [{ key: k('t2'), target: 'VALUE', result: 9, value: k('x') }] }),
  txn(
    {
      compare: [{ key: k('t1'), target: 'VALUE', result: 'EQUAL', value: k('m') }],
      success: [
        { request_put: { key: k('t1'), value: k('m2'), prev_kv: true } },
        { request_range: { key: k('t1') } },
        { request_delete_range: { key: k('t2'), prev_kv: true } },
        { request_range: { key: k('t'), range_end: k('u') } },
        { request_range: { key: k('t'), range_end: k('u'), revision: 3 } },
      ],
      failure: [{ request_put: { key: k('t1'), value: k('no') } }],
    },
    'success branch: writes visible to later ops',
  ),
  txn({
    compare: [{ key: k('t1'), target: 'VALUE', result: 'EQUAL', value: k('m') }],
    success: [{ request_put: { key: k('t1'), value: k('no') } }],
    failure: [
      { request_range: { key: k('t1') } },
      { request_put: { key: k('t3'), value: k('f') } },
      { request_delete_range: { key: k('nothing') } },
    ],
  }),
  txn(
    {
      success: [
        { request_put: { key: k('n/a'), value: k('1') } },
        {
          request_txn: {
            compare: [{ key: k('n/a'), target: 'VERSION', result: 'EQUAL', version: 0 }],
            success: [{ request_put: { key: k('n/b'), value: k('then') } }],
            failure: [{ request_put: { key: k('n/c'), value: k('else') } }],
          },
        },
        {
          request_txn: {
            success: [
              { request_range: { key: k('n/'), range_end: k('n0') } },
              { request_txn: { success: [{ request_delete_range: { key: k('n/a') } }] } },
            ],
          },
        },
      ],
    },
    'nested txns: compares see the state before the txn',
  ),
  range({ key: k('n/'), range_end: k('n0') }),
  txn({ success: [{ request_range: { key: k('t1') } }] }, 'read-only txn'),
  txn({}, 'empty txn'),
  txn({ success: [{ request_delete_range: { key: k('nothing') } }] }),
  txn({ success: [{ request_range: { key: k('t1'), revision: 999 } }] }, 'future rev in txn'),
  txn({ success: [{ request_put: { key: k('t9'), ignore_value: true } }] }, 'key not found in txn'),
  txn({ success: [{ request_put: { key: k('t9'), lease: '77' } }] }, 'lease not found in txn'),
  txn({
    failure: [{ request_put: { key: k('t9'), lease: '77' } }],
    success: [{ request_put: { key: k('t9') } }],
  }),
  txn({
    compare: [{ key: k('t1'), target: 'VERSION', result: 'GREATER', version: 0 }],
    success: [{ request_put: { key: k('t1'), ignore_value: true, ignore_lease: true } }],
  }),
  txn({
    success: [
      { requestPut: { key: k('camel'), value: k('1'), prevKv: true } },
      { requestDeleteRange: { key: k('t1'), rangeEnd: k('t2'), prevKv: true } },
      { requestRange: { key: k('camel'), keysOnly: true } },
    ],
  }),
]

/** Compaction and reads around it. */
export const compaction: Step[] = [
  put({ key: k('h'), value: k('1') }),
  put({ key: k('h'), value: k('2') }),
  put({ key: k('h'), value: k('3') }),
  del({ key: k('h') }),
  put({ key: k('h'), value: k('4') }),
  compact({ revision: 0 }, 'revision 0 is always compacted'),
  compact({}),
  compact({ revision: 100000 }, 'future'),
  compact({ revision: -1 }),
  compact({ revision: 10 }),
  range({ key: k('a'), revision: 9 }, 'below the compacted revision'),
  range({ key: 'AA==', range_end: 'AA==', revision: 10 }, 'at the compacted revision'),
  range({ key: 'AA==', range_end: 'AA==', revision: 11, count_only: true }),
  compact({ revision: 10 }, 'again: compacted'),
  compact({ revision: 5 }),
  txn({ success: [{ request_range: { key: k('a'), revision: 5 } }] }, 'compacted rev in txn'),
  compact({ revision: '20', physical: true }),
  range({ key: k('h'), revision: 20 }),
  range({ key: 'AA==', range_end: 'AA==', revision: 20, keys_only: true }),
  range({ key: 'AA==', range_end: 'AA==', revision: 19 }),
  put({ key: k('h'), value: k('5') }),
  range({ key: k('h') }),
]

/** Oversized requests: gRPC's limit (2 MiB) and Raft's (1.5 MiB). */
export function oversized(): Step[] {
  const value = (n: number): string => Buffer.alloc(n, 7).toString('base64')
  return [
    put({ key: k('big'), value: value(1_500_000) }, 'under the limit'),
    put({ key: k('big'), value: value(1_600_000) }, 'request is too large'),
    put({ key: k('big'), value: value(2_200_000) }, 'gRPC receive limit'),
    range({ key: value(1_600_000) }, 'reads do not go through Raft'),
    range({ key: value(2_200_000) }),
    txn({ success: [{ request_put: { key: k('big'), value: value(1_600_000) } }] }),
    txn({ success: [{ request_range: { key: value(1_600_000) } }] }, 'read-only txn'),
    range({ key: k('big'), keys_only: true }),
  ]
}

/**
 * A seeded pseudo-random sequence over a dozen keys (ties in sorts stay within Go's insertion
 * sort, so the order is defined): puts, deletes, txns and ranges with random options.
 */
export function randomSteps(seed: number, n: number): Step[] {
  let s = seed >>> 0
  const rnd = (m: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % m
  }
  const keys = ['r/a', 'r/b', 'r/c', 'r/d', 'r/e', 'r/f', 'r/g', 'r/h']
  const key = (): string => k(keys[rnd(keys.length)]!)
  const steps: Step[] = []
  for (let i = 0; i < n; i++) {
    const op = rnd(10)
    if (op < 4) {
      steps.push(put({ key: key(), value: k(String(rnd(4))), prev_kv: rnd(2) === 1 }))
    } else if (op < 5) {
      steps.push(del({ key: key(), range_end: rnd(2) === 1 ? key() : '', prev_kv: true }))
    } else if (op < 6) {
      steps.push(
        txn({
          compare: [{ key: key(), target: 'VALUE', result: rnd(4), value: k(String(rnd(4))) }],
          success: [{ request_put: { key: k('r/t'), value: k(String(i)) } }],
          failure: [{ request_range: { key: k('r/'), range_end: k('r0'), limit: 2 } }],
        }),
      )
    } else {
      steps.push(
        range({
          key: k('r/'),
          range_end: k('r0'),
          limit: rnd(4),
          sort_target: rnd(5),
          sort_order: rnd(3),
          keys_only: rnd(4) === 0,
          min_mod_revision: rnd(3) === 0 ? rnd(20) : 0,
          max_create_revision: rnd(3) === 0 ? rnd(40) : 0,
        }),
      )
    }
  }
  return steps
}

/**
 * A heavier seeded sequence over 30 keys: sorts whose ties exceed Go's insertion-sort cutoff,
 * historical revisions, compactions, range deletes and txns with random compares.
 */
export function randomHeavySteps(seed: number, n: number): Step[] {
  let s = seed >>> 0
  const rnd = (m: number): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return (s >>> 8) % m
  }
  const keyName = (): string => `q/${String(rnd(30)).padStart(2, '0')}`
  const key = (): string => k(keyName())
  const value = (): string => k(String(rnd(5)))
  const steps: Step[] = []
  for (let i = 0; i < n; i++) {
    const op = rnd(100)
    if (op < 40) {
      steps.push(put({ key: key(), value: value(), prev_kv: rnd(3) === 0 }))
    } else if (op < 48) {
      const a = keyName()
      const b = keyName()
      const [lo, hi] = a < b ? [a, b] : [b, a]
      steps.push(del({ key: k(lo), range_end: rnd(2) === 0 ? k(hi) : '', prev_kv: rnd(2) === 0 }))
    } else if (op < 58) {
      const targets = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const
      const target = targets[rnd(5)]!
      const operand: Record<string, unknown> = {
        VERSION: { version: rnd(4) },
        CREATE: { create_revision: rnd(i + 2) },
        MOD: { mod_revision: rnd(i + 2) },
        VALUE: { value: value() },
        LEASE: { lease: '0' },
      }[target] as Record<string, unknown>
      steps.push(
        txn({
          compare: [
            {
              key: key(),
              range_end: rnd(3) === 0 ? k('q0') : '',
              target,
              result: rnd(4),
              ...operand,
            },
          ],
          success: [
            { request_put: { key: k('q/txn'), value: value(), prev_kv: true } },
            {
              request_range: {
                key: k('q/'),
                range_end: k('q0'),
                limit: rnd(5),
                sort_target: rnd(5),
              },
            },
          ],
          failure: [
            { request_delete_range: { key: key(), prev_kv: true } },
            { request_range: { key: k('q/'), range_end: k('q0'), count_only: true } },
          ],
        }),
      )
    } else if (op < 61) {
      steps.push(compact({ revision: rnd(i + 5) }))
    } else {
      const filters: Record<string, number> = {}
      if (rnd(5) === 0) filters['min_mod_revision'] = rnd(i + 2)
      if (rnd(5) === 0) filters['max_mod_revision'] = rnd(i + 2)
      if (rnd(6) === 0) filters['min_create_revision'] = rnd(i + 2)
      if (rnd(6) === 0) filters['max_create_revision'] = rnd(i + 2)
      steps.push(
        range({
          key: k('q/'),
          range_end: rnd(4) === 0 ? 'AA==' : k('q0'),
          limit: rnd(3) === 0 ? 0 : rnd(16),
          revision: rnd(3) === 0 ? rnd(i + 3) : 0,
          sort_order: rnd(3),
          sort_target: rnd(5),
          keys_only: rnd(4) === 0,
          count_only: rnd(10) === 0,
          ...filters,
        }),
      )
    }
  }
  return steps
}

/**
 * Sorts over 150 keys with few distinct values: Go's pdqsort (ninther pivots, equal-element
 * partitions, pattern breaking) decides the order of ties, and we must reproduce it.
 */
export function sortsAtScale(): Step[] {
  const steps: Step[] = []
  for (let i = 0; i < 150; i++) {
    const name = `s/${String((i * 37) % 150).padStart(3, '0')}`
    steps.push(put({ key: k(name), value: k(String(i % 3)) }))
    if (i % 4 === 0) steps.push(put({ key: k(name), value: k(String(i % 2)) }))
  }
  for (const target of ['VERSION', 'CREATE', 'MOD', 'VALUE', 'KEY']) {
    for (const order of ['ASCEND', 'DESCEND', 'NONE']) {
      steps.push(
        range({ key: k('s/'), range_end: k('s0'), sort_target: target, sort_order: order }),
        range({
          key: k('s/'),
          range_end: k('s0'),
          sort_target: target,
          sort_order: order,
          limit: 40,
          keys_only: true,
        }),
      )
    }
  }
  steps.push(del({ key: k('s/'), range_end: k('s/05') }))
  steps.push(
    range({ key: k('s/'), range_end: k('s0'), sort_target: 'VALUE', sort_order: 'DESCEND' }),
  )
  steps.push(range({ key: k('s/'), range_end: k('s0'), sort_target: 'VERSION', revision: 200 }))
  return steps
}

/**
 * 300 keys holding one of two values, sorted by value: pdqsort meets unbalanced partitions and
 * scatters elements with its xorshift generator, whose exact constants decide the tie order.
 */
export function sortsBreakingPatterns(): Step[] {
  let s = 99
  const rnd = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8
  const steps: Step[] = []
  for (let i = 0; i < 300; i++) {
    steps.push(put({ key: k(`p/${String(i).padStart(3, '0')}`), value: k(String(rnd() % 2)) }))
  }
  for (const order of ['ASCEND', 'DESCEND']) {
    for (const target of ['VALUE', 'VERSION', 'CREATE']) {
      steps.push(
        range({
          key: k('p/'),
          range_end: k('p0'),
          sort_target: target,
          sort_order: order,
          keys_only: true,
        }),
      )
    }
  }
  return steps
}
