// The KV service, pure: the gateway and the member call these, so the wire conversion lives in
// one place.
//
//   decodeKvRequest(route, body)   JSON text → typed request, or throws EtcdError (as etcd's
//                                  gateway decodes: Go JSON, jsonpb field rules, base64)
//   validateKvRequest(req, limits) etcd's pre-Raft checks; throws EtcdError
//   needsConsensus(req)            whether the request must be proposed through Raft
//   executeKv(store, req)          runs it on the store (throws MVCC errors)
//   encodeKvResponse(resp, header) typed response → etcd's JSON text
//   handleKv(...)                  all of the above → { status, body }, errors via errors.ts

import type { KvStore } from '../mvcc/kv-store.ts'
import { isTxnReadonly } from '../mvcc/txn.ts'
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../mvcc/types.ts'
import { EtcdError, decodeError, toHttpError } from './errors.ts'
import { GoDecodeError, encodeBase64, parseGoJson } from './go-json.ts'
import {
  CompactionRequestSchema,
  DeleteRangeRequestSchema,
  PutRequestSchema,
  RangeRequestSchema,
  TxnRequestSchema,
} from './kv-schema.ts'
import {
  DEFAULT_KV_LIMITS,
  checkDeleteRangeRequest,
  checkIntervals,
  checkMessageSize,
  checkPutRequest,
  checkRaftRequestSize,
  checkRangeRequest,
  checkTxnRequest,
  compactionRequestSize,
  deleteRangeRequestSize,
  putRequestSize,
  rangeRequestSize,
  txnRequestSize,
} from './validate.ts'
import type { KvLimits } from './validate.ts'

/** The five KV routes, as the last segment of `/v3/kv/<route>`. */
export type KvRoute = 'range' | 'put' | 'deleterange' | 'txn' | 'compaction'

/** A decoded KV request. */
export type KvRequest =
  | { route: 'range'; request: RangeRequest }
  | { route: 'put'; request: PutRequest }
  | { route: 'deleterange'; request: DeleteRangeRequest }
  | { route: 'txn'; request: TxnRequest }
  | { route: 'compaction'; request: CompactionRequest }

/** A KV response, tagged like its request. */
export type KvResponse =
  | { route: 'range'; response: RangeResponse }
  | { route: 'put'; response: PutResponse }
  | { route: 'deleterange'; response: DeleteRangeResponse }
  | { route: 'txn'; response: TxnResponse }
  | { route: 'compaction'; response: CompactionResponse }

/** The header fields the member fills in (etcd's header.fill), as uint64 decimal strings. */
export interface HeaderContext {
  clusterId: string
  memberId: string
  raftTerm: string
}

const KV_PATH = /^\/(v3|v3beta|v3alpha)\/kv\/(range|put|deleterange|txn|compaction)$/

/** The KV route of an HTTP path (`/v3/kv/range`, also under /v3beta and /v3alpha), or null. */
export function kvRouteOf(path: string): KvRoute | null {
  const m = KV_PATH.exec(path)
  return m === null ? null : (m[2] as KvRoute)
}

/** Decodes a request body as etcd's gateway does. Throws EtcdError (code 3, HTTP 400). */
export function decodeKvRequest(route: KvRoute, body: string): KvRequest {
  try {
    const node = parseGoJson(body, 'decoder')
    switch (route) {
      case 'range':
        return { route, request: RangeRequestSchema.parse(node) }
      case 'put':
        return { route, request: PutRequestSchema.parse(node) }
      case 'deleterange':
        return { route, request: DeleteRangeRequestSchema.parse(node) }
      case 'txn':
        return { route, request: TxnRequestSchema.parse(node) }
      case 'compaction':
        return { route, request: CompactionRequestSchema.parse(node) }
    }
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}

/** The encoded protobuf size of a request (what gRPC's limit is checked against). */
export function kvRequestSize(req: KvRequest): number {
  switch (req.route) {
    case 'range':
      return rangeRequestSize(req.request)
    case 'put':
      return putRequestSize(req.request)
    case 'deleterange':
      return deleteRangeRequestSize(req.request)
    case 'txn':
      return txnRequestSize(req.request)
    case 'compaction':
      return compactionRequestSize(req.request)
  }
}

/** Whether the request changes state (and so is proposed through Raft); reads are served locally. */
export function needsConsensus(req: KvRequest): boolean {
  if (req.route === 'range') return false
  if (req.route === 'txn') return !isTxnReadonly(req.request)
  return true
}

/** etcd's checks before Raft, in etcd's order. Throws EtcdError. */
export function validateKvRequest(req: KvRequest, limits: KvLimits = DEFAULT_KV_LIMITS): void {
  const size = kvRequestSize(req)
  const fail = (err: EtcdError | null): void => {
    if (err !== null) throw err
  }
  fail(checkMessageSize(size, limits))
  switch (req.route) {
    case 'range':
      fail(checkRangeRequest(req.request))
      break
    case 'put':
      fail(checkPutRequest(req.request))
      break
    case 'deleterange':
      fail(checkDeleteRangeRequest(req.request))
      break
    case 'txn':
      fail(checkTxnRequest(req.request, limits.maxTxnOps))
      fail(checkIntervals(req.request.success).err)
      fail(checkIntervals(req.request.failure).err)
      break
    case 'compaction':
      break
  }
  if (needsConsensus(req)) fail(checkRaftRequestSize(size, limits))
}

/** Runs a validated request on the store. Throws the store's typed errors. */
export function executeKv(store: KvStore, req: KvRequest): KvResponse {
  switch (req.route) {
    case 'range':
      return { route: req.route, response: store.range(req.request) }
    case 'put':
      return { route: req.route, response: store.put(req.request) }
    case 'deleterange':
      return { route: req.route, response: store.deleteRange(req.request) }
    case 'txn':
      return { route: req.route, response: store.txn(req.request) }
    case 'compaction':
      return {
        route: req.route,
        response: store.compact(req.request.revision, req.request.physical),
      }
  }
}

// ---- encoding: proto field order, snake_case, int64 as strings, zero values omitted ----------

export type Json = string | boolean | Json[] | { [k: string]: Json }

function put(o: Record<string, Json>, name: string, v: Json | undefined): void {
  if (v === undefined || v === '' || v === false || v === '0') return
  if (Array.isArray(v) && v.length === 0) return
  o[name] = v
}

export function encodeKv(kv: KeyValue): Record<string, Json> {
  const o: Record<string, Json> = {}
  put(o, 'key', encodeBase64(kv.key))
  put(o, 'create_revision', String(kv.createRevision))
  put(o, 'mod_revision', String(kv.modRevision))
  put(o, 'version', String(kv.version))
  put(o, 'value', encodeBase64(kv.value))
  put(o, 'lease', kv.lease.toString())
  return o
}

export function encodeHeader(revision: number, ctx: HeaderContext | null): Record<string, Json> {
  const o: Record<string, Json> = {}
  if (ctx !== null) {
    put(o, 'cluster_id', ctx.clusterId)
    put(o, 'member_id', ctx.memberId)
  }
  put(o, 'revision', String(revision))
  if (ctx !== null) put(o, 'raft_term', ctx.raftTerm)
  return o
}

function encodeRange(r: RangeResponse, ctx: HeaderContext | null): Record<string, Json> {
  const o: Record<string, Json> = { header: encodeHeader(r.header.revision, ctx) }
  put(o, 'kvs', r.kvs.map(encodeKv))
  put(o, 'more', r.more)
  put(o, 'count', String(r.count))
  return o
}

function encodePut(r: PutResponse, ctx: HeaderContext | null): Record<string, Json> {
  const o: Record<string, Json> = { header: encodeHeader(r.header.revision, ctx) }
  if (r.prevKv !== null) o['prev_kv'] = encodeKv(r.prevKv)
  return o
}

function encodeDeleteRange(
  r: DeleteRangeResponse,
  ctx: HeaderContext | null,
): Record<string, Json> {
  const o: Record<string, Json> = { header: encodeHeader(r.header.revision, ctx) }
  put(o, 'deleted', String(r.deleted))
  put(o, 'prev_kvs', r.prevKvs.map(encodeKv))
  return o
}

function encodeResponseOp(op: ResponseOp): Record<string, Json> {
  switch (op.type) {
    case 'range':
      return { response_range: encodeRange(op.response, null) }
    case 'put':
      return { response_put: encodePut(op.response, null) }
    case 'deleteRange':
      return { response_delete_range: encodeDeleteRange(op.response, null) }
    case 'txn':
      return { response_txn: encodeTxn(op.response, null) }
    case 'empty':
      return {}
  }
}

function encodeTxn(r: TxnResponse, ctx: HeaderContext | null): Record<string, Json> {
  const o: Record<string, Json> = { header: encodeHeader(r.header.revision, ctx) }
  put(o, 'succeeded', r.succeeded)
  put(o, 'responses', r.responses.map(encodeResponseOp))
  return o
}

/**
 * etcd's JSON for a response. `header` supplies cluster_id, member_id and raft_term of the
 * top-level header (responses nested in a txn carry only a revision, as in etcd).
 */
export function encodeKvResponse(resp: KvResponse, header: HeaderContext): string {
  switch (resp.route) {
    case 'range':
      return JSON.stringify(encodeRange(resp.response, header))
    case 'put':
      return JSON.stringify(encodePut(resp.response, header))
    case 'deleterange':
      return JSON.stringify(encodeDeleteRange(resp.response, header))
    case 'txn':
      return JSON.stringify(encodeTxn(resp.response, header))
    case 'compaction':
      return JSON.stringify({ header: encodeHeader(resp.response.header.revision, header) })
  }
}

/**
 * One KV request end to end on a local store: decode, validate, execute, encode; every failure
 * becomes etcd's status and error body. (The member splits these steps around Raft.)
 */
export function handleKv(
  store: KvStore,
  route: KvRoute,
  body: string,
  header: HeaderContext,
  limits: KvLimits = DEFAULT_KV_LIMITS,
): { status: number; body: string } {
  try {
    const req = decodeKvRequest(route, body)
    validateKvRequest(req, limits)
    return { status: 200, body: encodeKvResponse(executeKv(store, req), header) }
  } catch (err) {
    return toHttpError(err)
  }
}

export { EtcdError }
