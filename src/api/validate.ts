// The checks etcd 3.4 makes before a KV request reaches Raft, as pure functions the gateway can
// run first: gRPC's message size limit, the handler's checks (etcdserver/api/v3rpc/key.go:
// empty key, ignore_value/ignore_lease conflicts, too many txn ops, empty ops, overlapping puts
// and deletes in a txn) and the Raft request size limit (etcdserver "request is too large").

import { varintLength } from '../mvcc/hash.ts'
import { compareBytes } from '../mvcc/key-range.ts'
import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../mvcc/types.ts'
import { EtcdErrors, messageTooLargeError } from './errors.ts'
import type { EtcdError } from './errors.ts'

/** Server limits, etcd's flags and defaults. */
export interface KvLimits {
  /** --max-txn-ops (default 128). */
  maxTxnOps: number
  /** --max-request-bytes (default 1.5 MiB). gRPC accepts this + 512 KiB. */
  maxRequestBytes: number
}

/** etcd's defaults. */
export const DEFAULT_KV_LIMITS: KvLimits = { maxTxnOps: 128, maxRequestBytes: 1.5 * 1024 * 1024 }

/** etcd's grpcOverheadBytes: gRPC's receive limit is maxRequestBytes plus this. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024

/** checkRangeRequest. */
export function checkRangeRequest(r: RangeRequest): EtcdError | null {
  return r.key.length === 0 ? EtcdErrors.EmptyKey : null
}

/** checkPutRequest. */
export function checkPutRequest(r: PutRequest): EtcdError | null {
  if (r.key.length === 0) return EtcdErrors.EmptyKey
  if (r.ignoreValue && r.value.length !== 0) return EtcdErrors.ValueProvided
  if (r.ignoreLease && r.lease !== 0n) return EtcdErrors.LeaseProvided
  return null
}

/** checkDeleteRequest. */
export function checkDeleteRangeRequest(r: DeleteRangeRequest): EtcdError | null {
  return r.key.length === 0 ? EtcdErrors.EmptyKey : null
}

/**
 * checkTxnRequest: a txn may hold at most `maxTxnOps` compares, success ops and failure ops
 * (each list counted on its own: the longest counts); a nested txn gets what its parent left.
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): EtcdError | null {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length)
  if (opc > maxTxnOps) return EtcdErrors.TooManyOps
  for (const c of r.compare) if (c.key.length === 0) return EtcdErrors.EmptyKey
  for (const op of [...r.success, ...r.failure]) {
    const err = checkRequestOp(op, maxTxnOps - opc)
    if (err !== null) return err
  }
  return null
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): EtcdError | null {
  switch (op.type) {
    case 'range':
      return checkRangeRequest(op.request)
    case 'put':
      return checkPutRequest(op.request)
    case 'deleteRange':
      return checkDeleteRangeRequest(op.request)
    case 'txn':
      return checkTxnRequest(op.request, maxTxnOps)
    case 'empty':
      // etcd answers an op with no request set with "key not found".
      return EtcdErrors.KeyNotFound
  }
}

/** A delete's span as etcd's interval tree holds it: [begin, end), end '' = +∞ (affine). */
interface Interval {
  begin: Uint8Array
  end: Uint8Array | null
}

/** a < b where null is +∞ (adt.StringAffineComparable, where the empty string is +∞). */
function lessAffine(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null) return false
  if (b === null) return true
  return compareBytes(a, b) < 0
}

function pointInterval(key: Uint8Array): Interval {
  const end = new Uint8Array(key.length + 1)
  end.set(key)
  return { begin: key, end }
}

function intersects(dels: Interval[], key: Uint8Array): boolean {
  const p = pointInterval(key)
  return dels.some((d) => lessAffine(d.begin, p.end) && lessAffine(p.begin, d.end))
}

const keyOf = (k: Uint8Array): string => Array.from(k, (b) => String.fromCharCode(b)).join('')

/**
 * checkIntervals: within one branch (and the branches of the txns nested in it), no key may be
 * put twice and no put may fall in a deleted span. A nested txn's success and failure branches
 * exclude each other, so they may put the same key. Note etcd's quirk, kept: a delete with
 * range_end "\0" is the interval [key, "\0"), which no put intersects.
 */
export function checkIntervals(ops: RequestOp[]): {
  puts: Set<string>
  dels: Interval[]
  err: EtcdError | null
} {
  const dels: Interval[] = []
  for (const op of ops) {
    if (op.type !== 'deleteRange') continue
    const d = op.request
    dels.push(d.rangeEnd.length !== 0 ? { begin: d.key, end: d.rangeEnd } : pointInterval(d.key))
  }
  const puts = new Set<string>()
  const fail = { puts, dels, err: EtcdErrors.DuplicateKey }
  for (const op of ops) {
    if (op.type !== 'txn') continue
    const then = checkIntervals(op.request.success)
    if (then.err !== null) return { puts, dels, err: then.err }
    const otherwise = checkIntervals(op.request.failure)
    if (otherwise.err !== null) return { puts, dels, err: otherwise.err }
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, bytesOfKey(k))) return fail
      puts.add(k)
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) return fail
      if (intersects(dels, bytesOfKey(k))) return fail
      puts.add(k)
    }
    // Union with ["\0", +∞): every interval whose end is above "\0".
    const zero = new Uint8Array([0])
    for (const d of [...then.dels, ...otherwise.dels]) {
      if (lessAffine(d.begin, null) && lessAffine(zero, d.end)) dels.push(d)
    }
  }
  for (const op of ops) {
    if (op.type !== 'put') continue
    const k = keyOf(op.request.key)
    if (puts.has(k) || intersects(dels, op.request.key)) return fail
    puts.add(k)
  }
  return { puts, dels, err: null }
}

function bytesOfKey(k: string): Uint8Array {
  return Uint8Array.from(k, (c) => c.charCodeAt(0))
}

// ---- protobuf sizes (for gRPC's and Raft's size limits) ---------------------------------------

const int64Size = (v: number | bigint): number => {
  const b = BigInt(v)
  if (b < 0n) return 10
  let len = 1
  let x = b
  while (x >= 0x80n) {
    x >>= 7n
    len++
  }
  return len
}
const lenField = (tagBytes: number, len: number): number => tagBytes + varintLength(len) + len
const bytes = (b: Uint8Array, tagBytes = 1): number =>
  b.length === 0 ? 0 : lenField(tagBytes, b.length)
const int = (v: number | bigint): number => (BigInt(v) === 0n ? 0 : 1 + int64Size(v))
const bool = (v: boolean): number => (v ? 2 : 0)

/** Encoded size of a RangeRequest. */
export function rangeRequestSize(r: RangeRequest): number {
  return (
    bytes(r.key) +
    bytes(r.rangeEnd) +
    int(r.limit) +
    int(r.revision) +
    int(r.sortOrder) +
    int(r.sortTarget) +
    bool(r.serializable) +
    bool(r.keysOnly) +
    bool(r.countOnly) +
    int(r.minModRevision) +
    int(r.maxModRevision) +
    int(r.minCreateRevision) +
    int(r.maxCreateRevision)
  )
}

/** Encoded size of a PutRequest. */
export function putRequestSize(r: PutRequest): number {
  return (
    bytes(r.key) +
    bytes(r.value) +
    int(r.lease) +
    bool(r.prevKv) +
    bool(r.ignoreValue) +
    bool(r.ignoreLease)
  )
}

/** Encoded size of a DeleteRangeRequest. */
export function deleteRangeRequestSize(r: DeleteRangeRequest): number {
  return bytes(r.key) + bytes(r.rangeEnd) + bool(r.prevKv)
}

function compareSize(c: Compare): number {
  // A set oneof member is encoded even when zero.
  const oneofInt = (v: number | bigint | undefined): number =>
    v === undefined ? 0 : 1 + int64Size(v)
  return (
    int(c.result) +
    int(c.target) +
    bytes(c.key) +
    oneofInt(c.version) +
    oneofInt(c.createRevision) +
    oneofInt(c.modRevision) +
    (c.value === undefined ? 0 : lenField(1, c.value.length)) +
    oneofInt(c.lease) +
    bytes(c.rangeEnd, 2)
  )
}

function requestOpSize(op: RequestOp): number {
  switch (op.type) {
    case 'range':
      return lenField(1, rangeRequestSize(op.request))
    case 'put':
      return lenField(1, putRequestSize(op.request))
    case 'deleteRange':
      return lenField(1, deleteRangeRequestSize(op.request))
    case 'txn':
      return lenField(1, txnRequestSize(op.request))
    case 'empty':
      return 0
  }
}

/** Encoded size of a TxnRequest. */
export function txnRequestSize(r: TxnRequest): number {
  let n = 0
  for (const c of r.compare) n += lenField(1, compareSize(c))
  for (const op of [...r.success, ...r.failure]) n += lenField(1, requestOpSize(op))
  return n
}

/** Encoded size of a CompactionRequest. */
export function compactionRequestSize(r: CompactionRequest): number {
  return int(r.revision) + bool(r.physical)
}

/**
 * Size of the InternalRaftRequest etcd proposes for a write: a RequestHeader (field 100, an ID
 * of about 9 varint bytes: 13 bytes in all) plus the request as a length-delimited field.
 */
export function raftRequestSize(requestSize: number): number {
  return 13 + lenField(1, requestSize)
}

/** gRPC's receive limit: a message above maxRequestBytes + 512 KiB never reaches etcd. */
export function checkMessageSize(sizeBytes: number, limits: KvLimits): EtcdError | null {
  const max = limits.maxRequestBytes + GRPC_OVERHEAD_BYTES
  return sizeBytes > max ? messageTooLargeError(sizeBytes, max) : null
}

/** etcd's processInternalRaftRequestOnce: a proposal above maxRequestBytes is refused. */
export function checkRaftRequestSize(requestSize: number, limits: KvLimits): EtcdError | null {
  return raftRequestSize(requestSize) > limits.maxRequestBytes ? EtcdErrors.RequestTooLarge : null
}
