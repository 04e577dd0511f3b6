// The bad-input fuzzer's route table and generators. Each route lists a valid request body
// generator; the fuzzer breaks it (broken JSON, wrong types, huge and negative numbers, invalid
// base64, deep nesting, unknown fields) and sends the same bytes to real etcd 3.4 and to
// edge-etcd. To fuzz a new route, add a row to FUZZ_ROUTES: its path and a valid body.
import fc from 'fast-check'

/** One fuzzed route. */
export interface FuzzRoute {
  path: string
  /** A valid request body (what the fuzzer mutates). */
  valid: fc.Arbitrary<Record<string, unknown>>
  /** The route answers with a stream that stays open for a valid request (watch). */
  stream?: boolean
  /**
   * 'status': a successful answer describes this server (versions, sizes, member names), so
   * only its status is compared with etcd's; errors are still compared in full.
   */
  compareOk?: 'body' | 'status'
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

/** Keys in one small prefix, so valid-by-accident writes stay in the fuzzer's own corner. */
const key = fc.constantFrom('fz/a', 'fz/b', 'fz/c').map(b64)
const rev = fc.integer({ min: 0, max: 20 }).map(String)

const rangeBody = fc.record(
  {
    key,
    range_end: fc.constantFrom(b64('fz0'), 'AA=='),
    limit: fc.integer({ min: 0, max: 5 }).map(String),
    revision: rev,
    sort_order: fc.constantFrom('NONE', 'ASCEND', 'DESCEND'),
    sort_target: fc.constantFrom('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'),
    serializable: fc.boolean(),
    keys_only: fc.boolean(),
    count_only: fc.boolean(),
    min_mod_revision: rev,
    max_create_revision: rev,
  },
  { requiredKeys: ['key'] },
)

const putBody = fc.record(
  {
    key,
    value: fc.string({ maxLength: 8 }).map(b64),
    lease: fc.constant('0'),
    prev_kv: fc.boolean(),
    ignore_value: fc.boolean(),
  },
  { requiredKeys: ['key', 'value'] },
)

const deleteBody = fc.record(
  { key, range_end: fc.constant(b64('fz0')), prev_kv: fc.boolean() },
  { requiredKeys: ['key'] },
)

const compare = fc.record({
  key,
  target: fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE'),
  result: fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
  version: rev,
})

const txnBody = fc.record({
  compare: fc.array(compare, { maxLength: 2 }),
  success: fc.array(
    fc.oneof(
      putBody.map((p) => ({ request_put: p })),
      rangeBody.map((r) => ({ request_range: r })),
    ),
    { maxLength: 2 },
  ),
  failure: fc.array(
    deleteBody.map((d) => ({ request_delete_range: d })),
    { maxLength: 1 },
  ),
})

const compactionBody = fc.record(
  { revision: fc.integer({ min: 1, max: 3 }).map(String), physical: fc.boolean() },
  { requiredKeys: ['revision'] },
)

const watchBody = fc.record({
  create_request: fc.record(
    { key, range_end: fc.constant(b64('fz0')), start_revision: rev, prev_kv: fc.boolean() },
    { requiredKeys: ['key'] },
  ),
})

/** A message with no field we read (status, member list): whatever fields come are ignored. */
const emptyBody = fc.record({ linearizable: fc.boolean() }, { requiredKeys: [] })

/**
 * Every fuzzed route (KV first: those are compared with etcd field by field). Not here: routes
 * etcd 3.4 does not serve (/v3/maintenance/hashkv is 3.5's; we serve it), and routes whose
 * success changes the cluster (alarm, transfer-leadership, snapshot streams).
 */
export const FUZZ_ROUTES: FuzzRoute[] = [
  { path: '/v3/kv/range', valid: rangeBody },
  { path: '/v3/kv/put', valid: putBody },
  { path: '/v3/kv/deleterange', valid: deleteBody },
  { path: '/v3/kv/txn', valid: txnBody },
  { path: '/v3/kv/compaction', valid: compactionBody },
  { path: '/v3beta/kv/range', valid: rangeBody },
  { path: '/v3/watch', valid: watchBody, stream: true },
  { path: '/v3/maintenance/status', valid: emptyBody, compareOk: 'status' },
  { path: '/v3/maintenance/hash', valid: emptyBody, compareOk: 'status' },
  { path: '/v3/maintenance/defragment', valid: emptyBody, compareOk: 'status' },
  { path: '/v3/cluster/member/list', valid: emptyBody, compareOk: 'status' },
]

/**
 * JSON text that is not what JSON.stringify can write: numbers beyond int64 or float64, fractions,
 * wrong types, and nesting deeper than Go's decoder allows (10,000).
 */
const hostileRaw = fc.oneof(
  fc.constantFrom(
    '99999999999999999999',
    '-99999999999999999999',
    '9223372036854775807',
    '9223372036854775808',
    '-9223372036854775808',
    '18446744073709551616',
    '1e400',
    '-1e400',
    '1.5',
    '-0',
    '1e2',
    '-1',
    '-5',
    '0',
    'true',
    'false',
    'null',
    '[]',
    '{}',
    '[1,"a",null]',
    '{"a":{"b":[]}}',
  ),
  // Strings: negative and huge revisions as strings, invalid base64, bad escapes, enums.
  fc
    .constantFrom(
      '-1',
      '-9223372036854775809',
      '99999999999999999999',
      '0x10',
      ' 1',
      '1 ',
      '',
      '!!!',
      'Zm9',
      'Zm9v=',
      '====',
      'YQ',
      'Zm9v\n',
      '\u0000',
      '\ud800',
      'DESCEND',
      'NOPE',
      '１',
    )
    .map((s) => JSON.stringify(s)),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc
    .constantFrom(20, 1000, 10_001, 30_000)
    .chain((n) =>
      fc.constantFrom('['.repeat(n) + ']'.repeat(n), '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
    ),
)

/** The JSON paths of every value in `value` (to pick one to replace). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [prefix]
  if (Array.isArray(value)) value.forEach((v, i) => paths.push(...pathsOf(v, [...prefix, i])))
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths.push(...pathsOf(v, [...prefix, k]))
  }
  return paths
}

const MARK = '"__RAW_VALUE_MARK__"'

/** `body` as JSON text with the value at `path` replaced by raw JSON text. */
function replaceAt(body: unknown, path: (string | number)[], raw: string): string {
  if (path.length === 0) return raw
  const copy = structuredClone(body) as Record<string | number, unknown>
  let node = copy
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>
  node[path.at(-1)!] = JSON.parse(MARK)
  return JSON.stringify(copy).replace(MARK, () => raw)
}

/**
 * etcd 3.4 panics (the member process dies) on a range whose sort_target is a number that names
 * no target (apply.go's sort switch has a panicking default), so such bodies are not sent to it;
 * bad-input.test.ts sends them to edge-etcd alone and asserts an answer and no member restart.
 */
export function crashesEtcd(path: (string | number)[], raw: string): boolean {
  if (path[path.length - 1] !== 'sort_target' || !/^-?\d+$/.test(raw.trim())) return false
  const n = Number(raw)
  return n < 0 || n > 4
}

/** A hostile body for `route`, as text, with a label saying how it was broken. */
export function hostileBody(route: FuzzRoute): fc.Arbitrary<{ how: string; text: string }> {
  const text = route.valid.map((v) => JSON.stringify(v))
  return fc.oneof(
    // Broken JSON: cut short, or a stray character somewhere.
    fc
      .tuple(text, fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([t, f]) => ({ how: 'truncated', text: t.slice(0, Math.floor(t.length * f)) })),
    fc
      .tuple(
        text,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', 'x', '\u0000', '\ud800'),
      )
      .map(([t, f, c]) => {
        const at = Math.floor(t.length * f)
        return { how: `inserted ${JSON.stringify(c)}`, text: t.slice(0, at) + c + t.slice(at) }
      }),
    // A value replaced with a wrong type, huge or negative number, bad base64, deep nesting.
    route.valid.chain((v) => {
      const paths = pathsOf(v)
      return fc
        .tuple(fc.constantFrom(...paths), hostileRaw)
        .filter(([path, raw]) => !crashesEtcd(path, raw))
        .map(([path, raw]) => ({
          how: `${path.join('.') || '(body)'} = ${raw.length > 40 ? `${raw.slice(0, 20)}…(${raw.length})` : raw}`,
          text: replaceAt(v, path, raw),
        }))
    }),
    // Unknown fields, in both naming styles.
    fc
      .tuple(
        route.valid,
        fc.constantFrom('bogus', 'Key', 'KEY', 'range-end', '__proto__'),
        hostileRaw,
      )
      .map(([v, k, raw]) => ({
        how: `unknown field ${k}`,
        text: JSON.stringify(v).replace(/^\{/, `{${JSON.stringify(k)}:${raw},`),
      })),
  )
}

/** Paths no route serves, on etcd or here; and methods, to try on every route. */
export const unknownPath = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('/v3/', '/v3beta/', '/', '/v2/', '/v3/kv/', '/v3/watch/', '/_dev'),
      fc.stringMatching(/^[a-z0-9_.-]{1,12}$/),
    )
    .map(([p, s]) => p + s),
  fc.constantFrom('/v3', '/v3/', '/v3/kv/range/extra', '/V3/kv/range', '/v3/kv/Range'),
)
export const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')
