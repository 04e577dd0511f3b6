// etcd's concurrency recipes (clientv3/concurrency: Mutex, Election; v3lock, v3election), pure:
// the keys they use, the KV requests they send (as gateway JSON, so the front door runs them
// through the ordinary KV API like etcd's services run them through an in-process client) and
// the decisions they take on the answers. The I/O — sending, waiting, retrying — is the front
// door's (src/gateway/concurrency.ts).
//
// A lock or election `name` owns the keys `<name>/<session lease in hex>`. Each waiter puts its
// own key; keys are ordered by create revision; the owner (leader) is the oldest. A waiter waits
// only for the deletion of the newest key older than its own (its predecessor), then looks again,
// so a release wakes exactly one waiter (no thundering herd):
//
//   l/1a (create 5, owner) ← l/2b (create 7) waits for l/1a ← l/3c (create 9) waits for l/2b
//
import { encodeBase64 } from './go-json.ts'
import type { Json } from './kv-service.ts'

/** etcd's session TTL when a Lock or Campaign names no lease (concurrency.defaultSessionTTL). */
export const DEFAULT_SESSION_TTL_SECONDS = 60

/** A key-value as the KV API writes it (mvccpb.KeyValue, zero fields omitted). */
export interface WireKv {
  key?: string
  create_revision?: string
  mod_revision?: string
  version?: string
  value?: string
  lease?: string
}

/** A watch event as the KV API writes it (type omitted for PUT). */
export interface WireEvent {
  type?: 'DELETE'
  kv: WireKv
}

/** A response header as the KV API writes it. */
export type WireHeader = Record<string, Json>

const SLASH = 0x2f

/** `<name>/`: the prefix every key of a lock or election shares. */
export function prefixOf(name: Uint8Array): Uint8Array {
  const p = new Uint8Array(name.length + 1)
  p.set(name)
  p[name.length] = SLASH
  return p
}

/** The key a session owns under a prefix: the lease ID in lower-case hex, as Go's `%x`. */
export function sessionKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  const hex = new TextEncoder().encode(lease.toString(16))
  const k = new Uint8Array(prefix.length + hex.length)
  k.set(prefix)
  k.set(hex, prefix.length)
  return k
}

/** The range end that selects every key with `prefix` (clientv3 getPrefix; all 0xff → "\0"). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1)
      end[i]! += 1
      return end
    }
  }
  return new Uint8Array([0])
}

const b64 = encodeBase64

/** Range over a prefix, oldest first, one key (clientv3 WithFirstCreate): the owner. */
export function firstCreateRange(prefix: Uint8Array, revision = 0): Record<string, Json> {
  const r: Record<string, Json> = {
    key: b64(prefix),
    range_end: b64(prefixEnd(prefix)),
    limit: '1',
    sort_order: 'ASCEND',
    sort_target: 'CREATE',
  }
  if (revision > 0) r['revision'] = String(revision)
  return r
}

/** The newest key older than `maxCreateRevision` + 1 (WithLastCreate + WithMaxCreateRev). */
export function lastCreateRange(
  prefix: Uint8Array,
  maxCreateRevision: number,
): Record<string, Json> {
  return {
    key: b64(prefix),
    range_end: b64(prefixEnd(prefix)),
    limit: '1',
    sort_order: 'DESCEND',
    sort_target: 'CREATE',
    max_create_revision: String(maxCreateRevision),
  }
}

const createIs = (key: Uint8Array, rev: number): Record<string, Json> => ({
  target: 'CREATE',
  key: b64(key),
  create_revision: String(rev),
})

/**
 * Mutex.Lock's one round trip: if my key does not exist, put it (with the lease) and read the
 * owner; else read my key (a session that already waits or holds keeps its place) and the owner.
 */
export function lockTxn(myKey: Uint8Array, prefix: Uint8Array, lease: bigint): Json {
  return {
    compare: [createIs(myKey, 0)],
    success: [
      { request_put: { key: b64(myKey), lease: lease.toString() } },
      { request_range: firstCreateRange(prefix) },
    ],
    failure: [{ request_range: { key: b64(myKey) } }, { request_range: firstCreateRange(prefix) }],
  }
}

/** Election.Campaign's first step: put my key with the value unless it exists, else read it. */
export function campaignTxn(myKey: Uint8Array, value: Uint8Array, lease: bigint): Json {
  const put: Record<string, Json> = { key: b64(myKey), lease: lease.toString() }
  if (value.length > 0) put['value'] = b64(value)
  return {
    compare: [createIs(myKey, 0)],
    success: [{ request_put: put }],
    failure: [{ request_range: { key: b64(myKey) } }],
  }
}

/** Election.Proclaim: a new value on the leader key, only while it is the same key (same create). */
export function proclaimTxn(key: Uint8Array, rev: number, value: Uint8Array, lease: bigint): Json {
  const put: Record<string, Json> = { key: b64(key), lease: lease.toString() }
  if (value.length > 0) put['value'] = b64(value)
  return { compare: [createIs(key, rev)], success: [{ request_put: put }] }
}

/** Election.Resign: delete the leader key, only while it is the same key. */
export function resignTxn(key: Uint8Array, rev: number): Json {
  return { compare: [createIs(key, rev)], success: [{ request_delete_range: { key: b64(key) } }] }
}

/**
 * A waiter's look at the queue, in one linearizable read: the newest key older than mine
 * (my predecessor) and my own key (still mine only if its create revision is unchanged).
 */
export function waiterCheckTxn(prefix: Uint8Array, myKey: Uint8Array, myRev: number): Json {
  return {
    success: [
      { request_range: lastCreateRange(prefix, myRev - 1) },
      { request_range: { key: b64(myKey) } },
    ],
  }
}

// ---- reading answers --------------------------------------------------------------------------

/** A txn answer as the KV API writes it. */
export interface WireTxnResponse {
  header: WireHeader
  succeeded?: boolean
  responses?: { response_range?: WireRangeResponse }[]
}

/** A range answer as the KV API writes it. */
export interface WireRangeResponse {
  header?: WireHeader
  kvs?: WireKv[]
  count?: string
}

/** The revision a header or key field carries ("0" is omitted on the wire). */
export function revisionOf(v: string | Json | undefined): number {
  return typeof v === 'string' ? Number(v) : 0
}

function rangeAt(txn: WireTxnResponse, i: number): WireKv[] {
  return txn.responses?.[i]?.response_range?.kvs ?? []
}

/** What Mutex.Lock's first round trip decided. */
export interface LockStart {
  /** My key's create revision: my place in the queue. */
  myRev: number
  /** True when no older key exists: the lock is mine now. */
  acquired: boolean
  /** The txn's header (the answer's header when acquired at once). */
  header: WireHeader
}

/** Reads lockTxn's answer. */
export function lockStart(txn: WireTxnResponse): LockStart {
  const myRev = txn.succeeded
    ? revisionOf(txn.header['revision'])
    : revisionOf(rangeAt(txn, 0)[0]?.create_revision)
  const owner = rangeAt(txn, 1)[0]
  const acquired = owner === undefined || revisionOf(owner.create_revision) === myRev
  return { myRev, acquired, header: txn.header }
}

/** Reads campaignTxn's answer: my key's create revision and its value if it already existed. */
export function campaignStart(txn: WireTxnResponse): {
  myRev: number
  existing: WireKv | undefined
} {
  if (txn.succeeded) return { myRev: revisionOf(txn.header['revision']), existing: undefined }
  const kv = rangeAt(txn, 0)[0]
  return { myRev: revisionOf(kv?.create_revision), existing: kv }
}

/** What a waiter does after waiterCheckTxn. */
export type WaiterStep =
  /** No older key is left and my key is still mine: acquired (or elected). */
  | { kind: 'acquired' }
  /** My key is gone or was replaced (its lease expired, someone deleted it): start over. */
  | { kind: 'lost' }
  /** Wait for this key (base64) to be deleted, watching from `fromRevision`. */
  | { kind: 'wait'; key: string; fromRevision: number }

/** Reads waiterCheckTxn's answer. */
export function waiterStep(txn: WireTxnResponse, myRev: number): WaiterStep {
  const mine = rangeAt(txn, 1)[0]
  if (mine === undefined || revisionOf(mine.create_revision) !== myRev) return { kind: 'lost' }
  const predecessor = rangeAt(txn, 0)[0]
  if (predecessor === undefined) return { kind: 'acquired' }
  // etcd's waitDelete watches from the read's revision: a delete after the read is never missed.
  return {
    kind: 'wait',
    key: predecessor.key ?? '',
    fromRevision: revisionOf(txn.header['revision']),
  }
}

// ---- observing an election -------------------------------------------------------------------

/** What an observer does next, after events of one revision. */
export type ObserveStep =
  /** Nothing changed for the observer. */
  | { kind: 'none' }
  /** A new leader or a new value: send it with this header revision. */
  | { kind: 'emit'; kv: WireKv; revision: number }
  /** The leader's key was deleted at `revision`: find the next leader as of that revision. */
  | { kind: 'lookup'; revision: number }

/**
 * Follows an election's leader through the events under its prefix, revision by revision,
 * as Election.Observe does: while there is a leader, only its key matters (a proclaim is a new
 * value; a delete hands over to the next oldest key); without one, the first key put is the
 * leader. Unlike etcd's, which looks the next leader up whenever it gets to it, every change is
 * seen at the revision it happened, in order.
 */
export class LeaderTracker {
  constructor(private leader: WireKv | undefined) {}

  /** The leader as last seen (undefined: none). */
  current(): WireKv | undefined {
    return this.leader
  }

  /** Sets the leader found by a lookup. */
  found(kv: WireKv | undefined): void {
    this.leader = kv
  }

  /** Takes the events of one revision, in order. */
  step(revision: number, events: WireEvent[]): ObserveStep {
    if (this.leader === undefined) {
      const put = events.find((e) => e.type !== 'DELETE')
      if (put === undefined) return { kind: 'none' }
      this.leader = put.kv
      return { kind: 'emit', kv: put.kv, revision }
    }
    const key = this.leader.key
    const mine = events.filter((e) => e.kv.key === key)
    const last = mine[mine.length - 1]
    if (last === undefined) return { kind: 'none' }
    if (last.type === 'DELETE') {
      this.leader = undefined
      return { kind: 'lookup', revision }
    }
    this.leader = last.kv
    return { kind: 'emit', kv: last.kv, revision }
  }
}

/** Groups events (in revision order) by revision. */
export function byRevision(events: WireEvent[]): [number, WireEvent[]][] {
  const out: [number, WireEvent[]][] = []
  for (const e of events) {
    const rev = revisionOf(e.kv.mod_revision)
    const last = out[out.length - 1]
    if (last !== undefined && last[0] === rev) last[1].push(e)
    else out.push([rev, [e]])
  }
  return out
}
