// etcd v3 KV messages (api/etcdserverpb/rpc.proto) as zod schemas, in two directions:
//
// - Requests are decoded from Go-parsed JSON (go-json.ts) the way etcd 3.4's grpc-gateway does
//   it (golang/protobuf jsonpb): field names snake_case or lowerCamel (lowerCamel wins when both
//   are present), unknown fields ignored, null = unset, int64 as number or string, bytes as
//   base64, enums as name or number. A bad field fails with the exact message etcd returns.
//   Fields are read in proto field order, oneof members last, as jsonpb does, so the first error
//   reported is the one etcd reports.
// - Responses as they appear on the wire (snake_case, int64 as strings, zero values omitted):
//   the *Wire schemas, for clients and tests that read etcd's JSON.

import { z } from 'zod'
import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../mvcc/types.ts'
import { GoDecodeError, decodeBase64Go, goKind, goQuote, parseGoJson } from './go-json.ts'
import type { GoJson } from './go-json.ts'

// ---- field codecs: GoJson node → typed value, with Go's error messages ------------------------

type Node = GoJson | undefined

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function cannot(node: GoJson, goType: string): GoDecodeError {
  return new GoDecodeError(`json: cannot unmarshal ${goKind(node)} into Go value of type ${goType}`)
}

/** int64: a JSON number or a quoted one (jsonpb strips the quotes and re-parses the text). */
function int64Of(node: GoJson): bigint {
  const n = node.t === 'string' ? parseGoJson(node.raw, 'unmarshal')! : node
  if (n.t === 'null') return 0n
  if (n.t !== 'number') throw cannot(n, 'int64')
  const bad = new GoDecodeError(
    `json: cannot unmarshal number ${n.raw} into Go value of type int64`,
  )
  if (!/^-?\d+$/.test(n.raw)) throw bad
  const v = BigInt(n.raw)
  if (v < INT64_MIN || v > INT64_MAX) throw bad
  return v
}

function bytesOf(node: GoJson): Uint8Array {
  if (node.t === 'string') return decodeBase64Go(node.value)
  if (node.t === 'array') {
    // encoding/json also fills a []byte from an array of numbers.
    return Uint8Array.from(
      node.items.map((item) => {
        if (item.t === 'null') return 0
        if (item.t !== 'number') throw cannot(item, 'uint8')
        const v = /^\d+$/.test(item.raw) ? Number(item.raw) : NaN
        if (!(v >= 0 && v <= 255)) {
          throw new GoDecodeError(
            `json: cannot unmarshal number ${item.raw} into Go value of type uint8`,
          )
        }
        return v
      }),
    )
  }
  throw cannot(node, '[]uint8')
}

function boolOf(node: GoJson): boolean {
  if (node.t !== 'bool') throw cannot(node, 'bool')
  return node.value
}

function enumOf(node: GoJson, goType: string, names: Record<string, number>): number {
  if (node.t === 'string') {
    // jsonpb looks the name up, and quotes it, as it stands between the quotes, unescaped
    // ("Don't need to do unquoting"): "\u0000" is reported as "\\u0000" (bad-input fuzzer).
    const v = names[node.raw]
    if (v === undefined || !Object.hasOwn(names, node.raw)) {
      throw new GoDecodeError(`unknown value ${goQuote(node.raw)} for enum ${goType}`)
    }
    return v
  }
  if (node.t !== 'number') throw cannot(node, goType)
  const v = /^-?\d+$/.test(node.raw) ? Number(node.raw) : NaN
  if (!(v >= -(2 ** 31) && v < 2 ** 31)) {
    throw new GoDecodeError(
      `json: cannot unmarshal number ${node.raw} into Go value of type ${goType}`,
    )
  }
  return v
}

function fieldsOf(node: GoJson): Map<string, GoJson> {
  if (node.t !== 'object') throw cannot(node, 'map[string]json.RawMessage')
  return node.fields
}

function itemsOf(node: GoJson): GoJson[] {
  if (node.t !== 'array') throw cannot(node, '[]json.RawMessage')
  return node.items
}

/** A zod schema over one JSON field: absent or null gives `zero`, otherwise `decode`. */
function field<T>(decode: (node: GoJson) => T, zero: () => T) {
  return z
    .custom<Node>()
    .transform((node): T => (node === undefined || node.t === 'null' ? zero() : decode(node)))
}

const int64Field = field(int64Of, () => 0n)
const bytesField = field(bytesOf, () => new Uint8Array(0))
const boolField = field(boolOf, () => false)
const enumField = (goType: string, names: Record<string, number>) =>
  field(
    (n) => enumOf(n, goType, names),
    () => 0,
  )
const repeatedField = <T>(item: z.ZodType<T, Node>) =>
  field(
    (n) => itemsOf(n).map((i) => item.parse(i)),
    (): T[] => [],
  )

function lowerCamel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

/**
 * A proto message: picks each field by its proto name or lowerCamel name (lowerCamel wins, as
 * jsonpb), in the shape's order, and hands the nodes to the field schemas.
 */
function message<S extends z.ZodRawShape>(shape: () => S) {
  // Built once, on first use (shapes refer to each other, so not at definition): building a
  // z.object per parse made zod recompile it every time, a quarter of a put's CPU.
  let compiled: { object: z.ZodObject<S>; names: [string, string][] } | undefined
  return z.custom<Node>().transform((node) => {
    const fields =
      node === undefined || node.t === 'null' ? new Map<string, GoJson>() : fieldsOf(node)
    if (compiled === undefined) {
      const s = shape()
      compiled = {
        object: z.object(s),
        names: Object.keys(s).map((name) => [name, lowerCamel(name)]),
      }
    }
    const picked: Record<string, Node> = {}
    for (const [name, camel] of compiled.names) {
      picked[name] = fields.get(camel) ?? fields.get(name)
    }
    return compiled.object.parse(picked) as z.output<z.ZodObject<S>>
  })
}

/** Revisions, limits and counts are int64 on the wire and JS numbers inside (|v| < 2^63). */
const num = (v: bigint): number => Number(v)

// ---- requests ---------------------------------------------------------------------------------

/** rpc.proto RangeRequest.SortOrder names. */
export const SORT_ORDER = { NONE: 0, ASCEND: 1, DESCEND: 2 }
/** rpc.proto RangeRequest.SortTarget names. */
export const SORT_TARGET = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 }
/** rpc.proto Compare.CompareResult names. */
export const COMPARE_RESULT = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 }
/** rpc.proto Compare.CompareTarget names. */
export const COMPARE_TARGET = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 }

/** RangeRequest (fields 1–13). */
export const RangeRequestSchema = message(() => ({
  key: bytesField,
  range_end: bytesField,
  limit: int64Field,
  revision: int64Field,
  sort_order: enumField('etcdserverpb.RangeRequest_SortOrder', SORT_ORDER),
  sort_target: enumField('etcdserverpb.RangeRequest_SortTarget', SORT_TARGET),
  serializable: boolField,
  keys_only: boolField,
  count_only: boolField,
  min_mod_revision: int64Field,
  max_mod_revision: int64Field,
  min_create_revision: int64Field,
  max_create_revision: int64Field,
})).transform((m): RangeRequest => ({
  key: m.key,
  rangeEnd: m.range_end,
  limit: num(m.limit),
  revision: num(m.revision),
  sortOrder: m.sort_order,
  sortTarget: m.sort_target,
  serializable: m.serializable,
  keysOnly: m.keys_only,
  countOnly: m.count_only,
  minModRevision: num(m.min_mod_revision),
  maxModRevision: num(m.max_mod_revision),
  minCreateRevision: num(m.min_create_revision),
  maxCreateRevision: num(m.max_create_revision),
}))

/** PutRequest (fields 1–6). */
export const PutRequestSchema = message(() => ({
  key: bytesField,
  value: bytesField,
  lease: int64Field,
  prev_kv: boolField,
  ignore_value: boolField,
  ignore_lease: boolField,
})).transform((m): PutRequest => ({
  key: m.key,
  value: m.value,
  lease: m.lease,
  prevKv: m.prev_kv,
  ignoreValue: m.ignore_value,
  ignoreLease: m.ignore_lease,
}))

/** DeleteRangeRequest (fields 1–3). */
export const DeleteRangeRequestSchema = message(() => ({
  key: bytesField,
  range_end: bytesField,
  prev_kv: boolField,
})).transform((m): DeleteRangeRequest => ({ key: m.key, rangeEnd: m.range_end, prevKv: m.prev_kv }))

const optional = <T>(schema: z.ZodType<T, Node>) =>
  z
    .custom<Node>()
    .transform((n): T | undefined =>
      n === undefined || n.t === 'null' ? undefined : schema.parse(n),
    )

/** Compare: result, target, key, range_end, then the target_union oneof members. */
export const CompareSchema = message(() => ({
  result: enumField('etcdserverpb.Compare_CompareResult', COMPARE_RESULT),
  target: enumField('etcdserverpb.Compare_CompareTarget', COMPARE_TARGET),
  key: bytesField,
  range_end: bytesField,
  version: optional(int64Field),
  create_revision: optional(int64Field),
  mod_revision: optional(int64Field),
  value: optional(bytesField),
  lease: optional(int64Field),
})).transform((m): Compare => {
  const c: Compare = { result: m.result, target: m.target, key: m.key, rangeEnd: m.range_end }
  if (m.version !== undefined) c.version = num(m.version)
  if (m.create_revision !== undefined) c.createRevision = num(m.create_revision)
  if (m.mod_revision !== undefined) c.modRevision = num(m.mod_revision)
  if (m.value !== undefined) c.value = m.value
  if (m.lease !== undefined) c.lease = m.lease
  return c
})

/** RequestOp: the `request` oneof; with several members set, the first in proto order wins. */
export const RequestOpSchema: z.ZodType<RequestOp, Node> = message(() => ({
  request_range: optional(RangeRequestSchema),
  request_put: optional(PutRequestSchema),
  request_delete_range: optional(DeleteRangeRequestSchema),
  request_txn: optional(TxnRequestSchema),
})).transform((m): RequestOp => {
  if (m.request_range !== undefined) return { type: 'range', request: m.request_range }
  if (m.request_put !== undefined) return { type: 'put', request: m.request_put }
  if (m.request_delete_range !== undefined) {
    return { type: 'deleteRange', request: m.request_delete_range }
  }
  if (m.request_txn !== undefined) return { type: 'txn', request: m.request_txn }
  return { type: 'empty' }
})

/** TxnRequest (compare, success, failure). */
export const TxnRequestSchema: z.ZodType<TxnRequest, Node> = message(() => ({
  compare: repeatedField(CompareSchema),
  success: repeatedField(RequestOpSchema),
  failure: repeatedField(RequestOpSchema),
}))

/** CompactionRequest (revision, physical). */
export const CompactionRequestSchema = message(() => ({
  revision: int64Field,
  physical: boolField,
})).transform((m): CompactionRequest => ({ revision: num(m.revision), physical: m.physical }))

// ---- responses, as they appear on the wire ------------------------------------------------------

const int64String = z.string().regex(/^-?\d+$/)

/** ResponseHeader on the wire. */
export const ResponseHeaderWire = z.object({
  cluster_id: int64String.optional(),
  member_id: int64String.optional(),
  revision: int64String.optional(),
  raft_term: int64String.optional(),
})

/** mvccpb.KeyValue on the wire. */
export const KeyValueWire = z.object({
  key: z.string().optional(),
  create_revision: int64String.optional(),
  mod_revision: int64String.optional(),
  version: int64String.optional(),
  value: z.string().optional(),
  lease: int64String.optional(),
})

/** RangeResponse on the wire. */
export const RangeResponseWire = z.object({
  header: ResponseHeaderWire.optional(),
  kvs: z.array(KeyValueWire).optional(),
  more: z.boolean().optional(),
  count: int64String.optional(),
})

/** PutResponse on the wire. */
export const PutResponseWire = z.object({
  header: ResponseHeaderWire.optional(),
  prev_kv: KeyValueWire.optional(),
})

/** DeleteRangeResponse on the wire. */
export const DeleteRangeResponseWire = z.object({
  header: ResponseHeaderWire.optional(),
  deleted: int64String.optional(),
  prev_kvs: z.array(KeyValueWire).optional(),
})

/** ResponseOp on the wire (one member set). */
export const ResponseOpWire: z.ZodType<unknown> = z.lazy(() =>
  z.object({
    response_range: RangeResponseWire.optional(),
    response_put: PutResponseWire.optional(),
    response_delete_range: DeleteRangeResponseWire.optional(),
    response_txn: TxnResponseWire.optional(),
  }),
)

/** TxnResponse on the wire. */
export const TxnResponseWire: z.ZodType<unknown> = z.lazy(() =>
  z.object({
    header: ResponseHeaderWire.optional(),
    succeeded: z.boolean().optional(),
    responses: z.array(ResponseOpWire).optional(),
  }),
)

/** CompactionResponse on the wire. */
export const CompactionResponseWire = z.object({ header: ResponseHeaderWire.optional() })

/** etcd's gateway error body. */
export const ErrorWire = z.object({ error: z.string(), message: z.string(), code: z.number() })

// Field codecs shared with the other services' schemas (watch, lease, …).
export { boolField, bytesField, enumField, field, int64Field, message, num, repeatedField }
