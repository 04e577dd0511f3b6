// etcd's Lock and Election services (v3lock, v3election over clientv3/concurrency), run in the
// front door on our own KV, lease and event-log APIs, as etcd runs them on an in-process client.
// The pure parts (keys, request bodies, decisions) are in src/api/concurrency.ts; this file sends,
// waits and retries.
//
// Waiting is a member long-poll (Member.waitEvents): the request holding a blocked lock has that
// call pending as its own I/O (so workerd never takes it for hung), it ends when the predecessor's
// key is deleted or after WAIT_SLICE_MS, and it never polls the store in between. Every decision
// is taken on a fresh linearizable read, so a wait that fails (member crash, leader change,
// compaction) is simply looked at again; the lock is granted only when a linearizable read shows
// no older key and my key still in place, so it is never handed out twice.
import {
  byRevision,
  campaignStart,
  campaignTxn,
  DEFAULT_SESSION_TTL_SECONDS,
  firstCreateRange,
  LeaderTracker,
  lockStart,
  lockTxn,
  prefixEnd,
  prefixOf,
  proclaimTxn,
  resignTxn,
  revisionOf,
  sessionKey,
  waiterCheckTxn,
  waiterStep,
  type WireEvent,
  type WireHeader,
  type WireKv,
  type WireRangeResponse,
  type WireTxnResponse,
} from '../api/concurrency.ts'
import { ConcurrencyErrors, EtcdError, GrpcCode } from '../api/errors.ts'
import { encodeBase64 } from '../api/go-json.ts'
import { encodeHeader, type Json } from '../api/kv-service.ts'
import {
  encodeCampaignResponse,
  encodeHeaderOnly,
  encodeLeaderResponse,
  encodeLockResponse,
  type CampaignRequest,
  type LeaderRequest,
  type LockRequest,
  type ProclaimRequest,
  type ResignRequest,
  type UnlockRequest,
} from '../api/lock-schema.ts'
import type { WaitEventsReply, WaitEventsRequest } from '../member/event-waiters.ts'

/** The longest one member wait lasts before the waiter looks at the queue again. */
export const WAIT_SLICE_MS = 25_000

/** The APIs the services are built on, as seen from one client request. */
export interface InnerClient {
  /** POSTs to one of our own v3 routes; the parsed answer, or throws the inner EtcdError. */
  call<T>(path: string, body: Json): Promise<T>
  /** A member long-poll on the event log (any member; failover inside). */
  waitEvents(request: WaitEventsRequest): Promise<WaitEventsReply>
  /** Aborted when the client goes away. */
  signal: AbortSignal
  /** Runs `fn` after the client went away (a cleanup the request itself can no longer await). */
  afterCancel(fn: () => Promise<unknown>): void
}

/** etcd's answer to a client that went away (context canceled). */
function canceled(): EtcdError {
  return new EtcdError(GrpcCode.CANCELED, 'context canceled')
}

/** Resolves with `p`, or rejects with `canceled()` when the client goes away first. */
function unlessCanceled<T>(client: InnerClient, p: Promise<T>): Promise<T> {
  if (client.signal.aborted) return Promise.reject(canceled())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(canceled())
    client.signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => client.signal.removeEventListener('abort', onAbort))
  })
}

/** A session lease as etcd's services grant one when the request names none (TTL 60 s). */
async function grantSessionLease(client: InnerClient): Promise<bigint> {
  const r = await client.call<{ ID?: string }>('/v3/lease/grant', {
    TTL: String(DEFAULT_SESSION_TTL_SECONDS),
  })
  return BigInt(r.ID ?? '0')
}

const txn = (client: InnerClient, body: Json) => client.call<WireTxnResponse>('/v3/kv/txn', body)

/**
 * Waits until `key` (base64) is deleted at or after `fromRevision`, or until a wait slice ends or
 * history was compacted (the caller looks at the queue again in every case).
 */
async function waitForDelete(
  client: InnerClient,
  key: string,
  fromRevision: number,
): Promise<void> {
  const keyBytes = Uint8Array.from(atob(key), (ch) => ch.charCodeAt(0))
  for (let from = fromRevision; ;) {
    const reply = await unlessCanceled(
      client,
      client.waitEvents({
        key: keyBytes,
        rangeEnd: new Uint8Array(0),
        fromRevision: from,
        maxWaitMs: WAIT_SLICE_MS,
      }),
    )
    if (reply.compactRevision !== undefined || reply.events.length === 0) return
    if (reply.events.some((e) => e.type === 'DELETE')) return
    // Only puts (a proclaim on the predecessor's key): keep waiting after them.
    from = revisionOf(reply.events[reply.events.length - 1]!.kv.mod_revision) + 1
  }
}

/**
 * Waits for my turn in a queue (concurrency.waitDeletes, plus a check that my key is still mine).
 * Returns the header of the read that saw my turn, or undefined when my key was lost.
 */
async function waitTurn(
  client: InnerClient,
  prefix: Uint8Array,
  myKey: Uint8Array,
  myRev: number,
): Promise<WireHeader | undefined> {
  for (;;) {
    if (client.signal.aborted) throw canceled()
    const check = await txn(client, waiterCheckTxn(prefix, myKey, myRev))
    const step = waiterStep(check, myRev)
    if (step.kind === 'acquired') return check.header
    if (step.kind === 'lost') return undefined
    await waitForDelete(client, step.key, step.fromRevision)
  }
}

/** Lock: blocks until the named lock is mine; answers the key that holds it. */
export async function lock(client: InnerClient, req: LockRequest): Promise<string> {
  const lease = req.lease !== 0n ? req.lease : await grantSessionLease(client)
  const prefix = prefixOf(req.name)
  const myKey = sessionKey(prefix, lease)
  // Each pass puts (or finds) my key; a pass ends with the lock, an error, or my key lost (its
  // lease expired or someone deleted it while I waited) — then I queue again at the end, or fail
  // with "lease not found". etcd would answer success with its key gone; that can hand the lock
  // to two clients, so we do not.
  for (;;) {
    const start = lockStart(await txn(client, lockTxn(myKey, prefix, lease)))
    if (start.acquired) return encodeLockResponse(start.header, myKey)
    let header: WireHeader | undefined
    try {
      header = await waitTurn(client, prefix, myKey, start.myRev)
    } catch (e) {
      // etcd's Mutex.Lock: a failed wait (the client went away) releases the waiter's key.
      const release = () => client.call('/v3/kv/deleterange', { key: encodeBase64(myKey) })
      if (client.signal.aborted) client.afterCancel(release)
      else await release().catch(() => undefined)
      throw e
    }
    if (header !== undefined) return encodeLockResponse(header, myKey)
  }
}

/** Unlock: deletes the key Lock answered (etcd: a plain delete, whoever holds it). */
export async function unlock(client: InnerClient, req: UnlockRequest): Promise<string> {
  const r = await client.call<{ header: WireHeader }>('/v3/kv/deleterange', {
    key: encodeBase64(req.key),
  })
  return encodeHeaderOnly(r.header)
}

/** Campaign: blocks until elected; answers the leader key. */
export async function campaign(client: InnerClient, req: CampaignRequest): Promise<string> {
  const lease = req.lease !== 0n ? req.lease : await grantSessionLease(client)
  const prefix = prefixOf(req.name)
  const myKey = sessionKey(prefix, lease)
  for (;;) {
    const first = await txn(client, campaignTxn(myKey, req.value, lease))
    const { myRev, existing } = campaignStart(first)
    // A session that already campaigns keeps its place; a new value is proclaimed on it.
    if (existing !== undefined && (existing.value ?? '') !== encodeBase64(req.value)) {
      const p = await txn(client, proclaimTxn(myKey, myRev, req.value, lease))
      if (!p.succeeded) throw ConcurrencyErrors.NotLeader
    }
    let header: WireHeader | undefined
    try {
      header = await waitTurn(client, prefix, myKey, myRev)
    } catch (e) {
      // etcd's Campaign: a client that went away resigns (deletes its key if still the same).
      if (client.signal.aborted) client.afterCancel(() => txn(client, resignTxn(myKey, myRev)))
      throw e
    }
    // etcd answers the header of the campaign's first txn, not of the read that elected it.
    if (header !== undefined) {
      return encodeCampaignResponse(first.header, { name: req.name, key: myKey, rev: myRev, lease })
    }
  }
}

/** Proclaim: a new value from the leader; "election: not leader" if the key is not the same. */
export async function proclaim(client: InnerClient, req: ProclaimRequest): Promise<string> {
  const leader = req.leader
  if (leader === undefined) throw ConcurrencyErrors.MissingLeaderKey
  // etcd opens a session on the given lease; with lease 0 that grants a new one, which the
  // proclaimed key is then attached to.
  const lease = leader.lease !== 0n ? leader.lease : await grantSessionLease(client)
  const r = await txn(client, proclaimTxn(leader.key, leader.rev, req.value, lease))
  if (!r.succeeded) throw ConcurrencyErrors.NotLeader
  return encodeHeaderOnly(r.header)
}

/** Resign: deletes the leader key if it is still the same; no error if it is not. */
export async function resign(client: InnerClient, req: ResignRequest): Promise<string> {
  const leader = req.leader
  if (leader === undefined) throw ConcurrencyErrors.MissingLeaderKey
  // As etcd: a session on lease 0 grants a lease, even though resigning never uses it.
  if (leader.lease === 0n) await grantSessionLease(client)
  const r = await txn(client, resignTxn(leader.key, leader.rev))
  return encodeHeaderOnly(r.header)
}

/** Leader: the oldest key of the election, or "election: no leader". */
export async function leader(client: InnerClient, req: LeaderRequest): Promise<string> {
  const r = await client.call<WireRangeResponse>(
    '/v3/kv/range',
    firstCreateRange(prefixOf(req.name)),
  )
  const kv = r.kvs?.[0]
  if (kv === undefined) throw ConcurrencyErrors.NoLeader
  return encodeLeaderResponse(r.header ?? {}, kv)
}

/**
 * Observe: sends `{"result": LeaderResponse}` lines, one per leader change or new value, in
 * revision order, until the client goes away. Returns when the stream ends; `send` rejects when
 * the client is gone.
 */
export async function observe(
  client: InnerClient,
  req: LeaderRequest,
  send: (line: string) => Promise<void>,
): Promise<void> {
  const prefix = prefixOf(req.name)
  const range = (revision = 0) =>
    client.call<WireRangeResponse>('/v3/kv/range', firstCreateRange(prefix, revision))
  const emit = (header: WireHeader, kv: WireKv) =>
    send(`${encodeLeaderResponse(header, kv, true)}\n`)

  const initial = await range()
  const tracker = new LeaderTracker(initial.kvs?.[0])
  const first = tracker.current()
  if (first !== undefined) await emit(initial.header ?? {}, first)
  let from = revisionOf(initial.header?.['revision']) + 1

  while (!client.signal.aborted) {
    const reply = await unlessCanceled(
      client,
      client.waitEvents({
        key: prefix,
        rangeEnd: prefixEnd(prefix),
        fromRevision: from,
        maxWaitMs: WAIT_SLICE_MS,
      }),
    )
    if (reply.compactRevision !== undefined) {
      // The events since `from` are gone: take the leader as it is now, tell if it changed.
      const now = await range()
      const kv = now.kvs?.[0]
      const before = tracker.current()
      tracker.found(kv)
      if (kv !== undefined && (kv.key !== before?.key || kv.mod_revision !== before?.mod_revision))
        await emit(now.header ?? {}, kv)
      from = revisionOf(now.header?.['revision']) + 1
      continue
    }
    for (const [rev, events] of byRevision(reply.events as WireEvent[])) {
      const step = tracker.step(rev, events)
      if (step.kind === 'emit') {
        await emit(encodeHeader(rev, reply.header), step.kv)
      } else if (step.kind === 'lookup') {
        // The next leader as of the delete (later changes follow as their own events).
        const next = await range(rev).catch(() => range())
        const kv = next.kvs?.[0]
        tracker.found(kv)
        if (kv !== undefined) await emit(next.header ?? {}, kv)
      }
      from = rev + 1
    }
    // A timed-out wait saw no events up to the member's revision: go on after it.
    if (reply.events.length === 0) from = Math.max(from, reply.revision + 1)
  }
}
