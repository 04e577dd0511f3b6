// Txn, as etcd 3.4's applier runs it (etcdserver/apply.go Txn):
//  1. compareToPath: evaluate the compares of the txn and of every nested txn on the chosen
//     branches, all against the state *before* the txn (so a nested txn's compares do not see the
//     outer txn's writes), giving a depth-first list of branch choices, the "path".
//  2. check the chosen ops before writing anything: puts with ignore_value/ignore_lease need the
//     key to exist, leases must exist, range revisions must be neither future nor compacted.
//  3. apply the chosen ops in order in one write transaction (one revision); ranges inside see
//     the txn's own earlier writes.

import {
  AssertionError,
  CompactedError,
  FutureRevError,
  KeyNotFoundError,
  LeaseNotFoundError,
  MvccError,
  ResponseTooLargeError,
} from './errors.ts'
import { compareBytes } from './key-range.ts'
import type { KvStore, ReadView, WriteTxn } from './kv-store.ts'
import type { Compare, KeyValue, RequestOp, ResponseOp, TxnRequest, TxnResponse } from './types.ts'
import { CompareResult, CompareTarget } from './types.ts'

/** A depth-first list of branch choices and a cursor into it. */
interface Path {
  choices: boolean[]
  next: number
}

/** Runs a txn against the store (KvStore.txn). */
export function evaluateTxn(store: KvStore, req: TxnRequest): TxnResponse {
  const before: ReadView = { rev: store.currentRevision() }
  const choices: boolean[] = []
  compareToPath(store, req, choices)
  checkOps(store, before, req, { choices, next: 0 })
  const txn = store.beginWrite()
  let resp: TxnResponse
  try {
    resp = applyTxn(store, txn, req, { choices, next: 0 })
  } catch (err) {
    // The checks above make every op succeed (etcd panics otherwise): a failure here, with some
    // writes done, is a broken invariant, never a client error to answer and commit.
    if (err instanceof MvccError && !(err instanceof ResponseTooLargeError)) {
      throw new AssertionError(`txn op failed after its checks passed: ${err.message}`)
    }
    throw err
  }
  store.endWrite(txn)
  resp.header.revision = txn.sub > 0 ? txn.beginRev + 1 : txn.beginRev
  return resp
}

/** Whether a txn only reads (every op of both branches is a range): it needs no Raft entry. */
export function isTxnReadonly(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.type === 'range')
}

function branch(req: TxnRequest, succeeded: boolean): RequestOp[] {
  return succeeded ? req.success : req.failure
}

/** Compares read the state before the txn: they all run before its first write. */
function compareToPath(store: KvStore, req: TxnRequest, out: boolean[]): void {
  const succeeded = req.compare.every((c) => applyCompare(store, c))
  out.push(succeeded)
  for (const op of branch(req, succeeded)) {
    if (op.type === 'txn') compareToPath(store, op.request, out)
  }
}

/** One compare over every key in its span; VALUE on no key is false, others compare a zero kv. */
function applyCompare(store: KvStore, c: Compare): boolean {
  const all = store.everyLiveKv(c.key, c.rangeEnd, (kv) => compareKv(c, kv))
  if (all !== null) return all
  if (c.target === CompareTarget.VALUE) return false
  return compareKv(c, {
    key: c.key,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    value: new Uint8Array(0),
    lease: 0n,
  })
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  let result = 0
  switch (c.target) {
    case CompareTarget.VALUE:
      result = compareBytes(kv.value, c.value ?? new Uint8Array(0))
      break
    case CompareTarget.CREATE:
      result = Math.sign(kv.createRevision - (c.createRevision ?? 0))
      break
    case CompareTarget.MOD:
      result = Math.sign(kv.modRevision - (c.modRevision ?? 0))
      break
    case CompareTarget.VERSION:
      result = Math.sign(kv.version - (c.version ?? 0))
      break
    case CompareTarget.LEASE: {
      const lease = c.lease ?? 0n
      result = kv.lease < lease ? -1 : kv.lease > lease ? 1 : 0
      break
    }
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0
    case CompareResult.NOT_EQUAL:
      return result !== 0
    case CompareResult.GREATER:
      return result > 0
    case CompareResult.LESS:
      return result < 0
    default:
      return true
  }
}

/** etcd's checkRequests with checkRequestPut, then with checkRequestRange, over the path. */
function checkOps(store: KvStore, view: ReadView, req: TxnRequest, path: Path): void {
  const start = path.next
  walkChosenOps(req, path, (op) => {
    if (op.type !== 'put') return
    const put = op.request
    if ((put.ignoreValue || put.ignoreLease) && store.getIn(view, put.key) === null) {
      throw new KeyNotFoundError()
    }
    if (put.lease !== 0n && !store.hasLease(put.lease)) throw new LeaseNotFoundError(put.lease)
  })
  path.next = start
  const compactRev = store.compactedRevision()
  walkChosenOps(req, path, (op) => {
    if (op.type !== 'range' || op.request.revision === 0) return
    if (op.request.revision > view.rev) throw new FutureRevError()
    if (op.request.revision < compactRev) throw new CompactedError()
  })
}

function walkChosenOps(req: TxnRequest, path: Path, visit: (op: RequestOp) => void): void {
  const succeeded = path.choices[path.next++] ?? false
  for (const op of branch(req, succeeded)) {
    if (op.type === 'txn') walkChosenOps(op.request, path, visit)
    else visit(op)
  }
}

function applyTxn(store: KvStore, txn: WriteTxn, req: TxnRequest, path: Path): TxnResponse {
  const succeeded = path.choices[path.next++] ?? false
  const responses: ResponseOp[] = branch(req, succeeded).map((op): ResponseOp => {
    switch (op.type) {
      case 'range':
        return { type: 'range', response: store.rangeIn(store.viewOf(txn), op.request) }
      case 'put':
        return { type: 'put', response: store.putIn(txn, op.request) }
      case 'deleteRange':
        return { type: 'deleteRange', response: store.deleteRangeIn(txn, op.request) }
      case 'txn':
        return { type: 'txn', response: applyTxn(store, txn, op.request, path) }
      case 'empty':
        return { type: 'empty' }
    }
  })
  // Nested txns carry an empty header (revision 0), as etcd's newTxnResp leaves them.
  return { header: { revision: 0 }, succeeded, responses }
}
