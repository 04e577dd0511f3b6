// The store's typed requests and responses. They mirror etcd's rpc.proto messages with JS types:
// keys and values are bytes, revisions and counts are numbers (always below 2^53), lease IDs are
// int64 as bigint. src/api converts them to and from etcd's JSON wire format, in one place.

/** One version of one key, as etcd's mvccpb.KeyValue. */
export interface KeyValue {
  key: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  value: Uint8Array
  lease: bigint
}

/** rpc.proto RangeRequest.SortOrder. Unknown numbers are kept: etcd accepts them too. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const
/** rpc.proto RangeRequest.SortTarget. */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const
/** rpc.proto Compare.CompareResult. */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const
/** rpc.proto Compare.CompareTarget. */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const

/** The revision every response carries. 0 means "not set" (etcd omits it on the wire). */
export interface ResponseHeader {
  revision: number
}

/** RangeRequest. `rangeEnd` empty = the single key `key`; `[0]` = every key >= `key`. */
export interface RangeRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  limit: number
  revision: number
  sortOrder: number
  sortTarget: number
  serializable: boolean
  keysOnly: boolean
  countOnly: boolean
  minModRevision: number
  maxModRevision: number
  minCreateRevision: number
  maxCreateRevision: number
}

export interface RangeResponse {
  header: ResponseHeader
  kvs: KeyValue[]
  more: boolean
  count: number
}

export interface PutRequest {
  key: Uint8Array
  value: Uint8Array
  lease: bigint
  prevKv: boolean
  ignoreValue: boolean
  ignoreLease: boolean
}

export interface PutResponse {
  header: ResponseHeader
  prevKv: KeyValue | null
}

export interface DeleteRangeRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  prevKv: boolean
}

export interface DeleteRangeResponse {
  header: ResponseHeader
  deleted: number
  prevKvs: KeyValue[]
}

/**
 * One Compare of a Txn. Like rpc.proto's `target_union` oneof, at most one of the operand fields
 * is meant to be set; the one matching `target` is used and a missing one counts as 0 / empty.
 */
export interface Compare {
  result: number
  target: number
  key: Uint8Array
  rangeEnd: Uint8Array
  value?: Uint8Array
  version?: number
  createRevision?: number
  modRevision?: number
  lease?: bigint
}

/** RequestOp: one operation of a Txn branch. `empty` is an op with no request set. */
export type RequestOp =
  | { type: 'range'; request: RangeRequest }
  | { type: 'put'; request: PutRequest }
  | { type: 'deleteRange'; request: DeleteRangeRequest }
  | { type: 'txn'; request: TxnRequest }
  | { type: 'empty' }

export interface TxnRequest {
  compare: Compare[]
  success: RequestOp[]
  failure: RequestOp[]
}

/** ResponseOp: the result of one RequestOp, in the same position. */
export type ResponseOp =
  | { type: 'range'; response: RangeResponse }
  | { type: 'put'; response: PutResponse }
  | { type: 'deleteRange'; response: DeleteRangeResponse }
  | { type: 'txn'; response: TxnResponse }
  | { type: 'empty' }

export interface TxnResponse {
  header: ResponseHeader
  succeeded: boolean
  responses: ResponseOp[]
}

export interface CompactionRequest {
  revision: number
  physical: boolean
}

export interface CompactionResponse {
  header: ResponseHeader
}

/** One change for watch: a put (with the new kv) or a delete (kv has key and mod_revision). */
export interface MvccEvent {
  type: 'PUT' | 'DELETE'
  kv: KeyValue
  /** The key's previous version, when it still exists in history (for prev_kv watches). */
  prevKv: KeyValue | null
  /** Position of the change inside its revision. */
  sub: number
}

/** A zero-valued RangeRequest: fill in what you need. */
export function rangeRequest(fields: Partial<RangeRequest> & { key: Uint8Array }): RangeRequest {
  return {
    rangeEnd: new Uint8Array(0),
    limit: 0,
    revision: 0,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...fields,
  }
}

/** A zero-valued PutRequest. */
export function putRequest(fields: Partial<PutRequest> & { key: Uint8Array }): PutRequest {
  return {
    value: new Uint8Array(0),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
    ...fields,
  }
}

/** A zero-valued DeleteRangeRequest. */
export function deleteRangeRequest(
  fields: Partial<DeleteRangeRequest> & { key: Uint8Array },
): DeleteRangeRequest {
  return { rangeEnd: new Uint8Array(0), prevKv: false, ...fields }
}

/** A zero-valued TxnRequest. */
export function txnRequest(fields: Partial<TxnRequest>): TxnRequest {
  return { compare: [], success: [], failure: [], ...fields }
}
