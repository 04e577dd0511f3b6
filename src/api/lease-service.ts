// The lease service, pure: etcd's Lease API (rpc.proto LeaseGrant, LeaseRevoke, LeaseKeepAlive,
// LeaseTimeToLive, LeaseLeases) as the gateway decodes it and the member applies it.
//
//   decodeLeaseRequest(route, body)  JSON text → typed request (throws EtcdError, as etcd's gateway)
//   isLeaseWrite(route)              whether it is proposed through raft
//   executeLease(store, entry, ctx)  applies one lease entry or serves one lease read
//
// Routes with a `/` inside (`lease/grant`) never collide with the KV routes. `lease/expire` and
// `lease/checkpoint` are the leader's own entries (expiry decisions, lease clock checkpoints);
// `lease/keepalive` entries carry a batch of keepalives (see src/member/lease-timer.ts).

import { MvccError } from '../mvcc/errors.ts'
import type { LeaseStore } from '../mvcc/lease-store.ts'
import { EtcdError, decodeError, toHttpError } from './errors.ts'
import { GoDecodeError, encodeBase64, parseGoJson } from './go-json.ts'
import { boolField, int64Field, message } from './kv-schema.ts'
import { encodeHeader, type HeaderContext, type Json } from './kv-service.ts'

/** Client lease routes (what the gateway serves) and the leader's internal lease entries. */
export type LeaseRoute =
  | 'lease/grant'
  | 'lease/revoke'
  | 'lease/keepalive'
  | 'lease/timetolive'
  | 'lease/leases'
  | 'lease/expire'
  | 'lease/checkpoint'

/** Whether a route is a lease route. */
export function isLeaseRoute(route: string): route is LeaseRoute {
  return route.startsWith('lease/')
}

/** Whether a lease route changes state (proposed through raft) or is a read. */
export function isLeaseWrite(route: LeaseRoute): boolean {
  return route !== 'lease/timetolive' && route !== 'lease/leases'
}

/** LeaseGrantRequest (TTL, ID). */
export const LeaseGrantRequestSchema = message(() => ({ TTL: int64Field, ID: int64Field }))
/** LeaseRevokeRequest, LeaseKeepAliveRequest (ID). */
export const LeaseIdRequestSchema = message(() => ({ ID: int64Field }))
/** LeaseTimeToLiveRequest (ID, keys). */
export const LeaseTimeToLiveRequestSchema = message(() => ({ ID: int64Field, keys: boolField }))
/** LeaseLeasesRequest (no fields, but the body must still be JSON). */
export const LeaseLeasesRequestSchema = message(() => ({}))

/** A decoded client lease request. */
export type LeaseRequest =
  | { route: 'lease/grant'; ttl: bigint; id: bigint }
  | { route: 'lease/revoke'; id: bigint }
  | { route: 'lease/keepalive'; id: bigint }
  | { route: 'lease/timetolive'; id: bigint; keys: boolean }
  | { route: 'lease/leases' }

/** Decodes a client lease request as etcd's gateway does. Throws EtcdError (code 3, HTTP 400). */
export function decodeLeaseRequest<R extends LeaseRequest['route']>(
  route: R,
  body: string,
): Extract<LeaseRequest, { route: R }> {
  return decodeAny(route, body) as Extract<LeaseRequest, { route: R }>
}

function decodeAny(route: LeaseRoute, body: string): LeaseRequest {
  try {
    const node = parseGoJson(body, 'decoder')
    switch (route) {
      case 'lease/grant': {
        const m = LeaseGrantRequestSchema.parse(node)
        return { route, ttl: m.TTL, id: m.ID }
      }
      case 'lease/revoke':
        return { route, id: LeaseIdRequestSchema.parse(node).ID }
      case 'lease/keepalive':
        return { route, id: LeaseIdRequestSchema.parse(node).ID }
      case 'lease/timetolive': {
        const m = LeaseTimeToLiveRequestSchema.parse(node)
        return { route, id: m.ID, keys: m.keys }
      }
      case 'lease/leases':
        LeaseLeasesRequestSchema.parse(node)
        return { route }
      case 'lease/expire':
      case 'lease/checkpoint':
        throw new Error(`${route} is not a client route`)
    }
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}

/** What the leader adds to a lease entry: the lease time and, for a grant without ID, an ID. */
export interface LeaseEntryContext {
  /** Lease time at proposal (src/mvcc/lease-clock.ts). */
  nowMs: number
  /** The ID the leader picked for a grant with ID 0 (int64 decimal). */
  grantId?: string
}

/** The body of a batched keepalive or expire entry (internal, built by the member). */
export interface LeaseIdsBody {
  ids: string[]
}

/** Everything executing a lease route needs besides the store. */
export interface LeaseExecContext {
  header: HeaderContext
  /** The current revision, for headers that carry it. */
  revision: () => number
  /** etcd's minimum TTL (minLeaseTtlSeconds). */
  minTtlSeconds: number
  /** The entry's context (writes), or the reading member's lease time (reads). */
  entry?: LeaseEntryContext
  nowMs: number
}

/** An answer: etcd's status and JSON body. */
export interface LeaseReply {
  status: number
  body: string
}

/**
 * Applies a lease entry or serves a lease read. Deterministic for writes (time comes from the
 * entry). Failures become etcd's error replies. The keepalive entry's answer is a JSON array of
 * LeaseKeepAliveResponse objects, one per ID, in order (the member hands one to each caller).
 */
export function executeLease(
  store: LeaseStore,
  route: LeaseRoute,
  body: string,
  ctx: LeaseExecContext,
): LeaseReply {
  try {
    return { status: 200, body: JSON.stringify(run(store, route, body, ctx)) }
  } catch (err) {
    // Expected outcomes are etcd's answer; anything else is a bug and must not be replicated.
    if (err instanceof EtcdError || err instanceof MvccError) return toHttpError(err)
    throw err
  }
}

function run(store: LeaseStore, route: LeaseRoute, body: string, ctx: LeaseExecContext): Json {
  const header = (): Record<string, Json> => encodeHeader(ctx.revision(), ctx.header)
  switch (route) {
    case 'lease/grant': {
      const req = decodeLeaseRequest(route, body)
      const id = req.id !== 0n ? req.id : BigInt(ctx.entry?.grantId ?? '0')
      const lease = store.grant(id, req.ttl, ctx.minTtlSeconds, ctx.nowMs)
      return omitZero({ header: header(), ID: id.toString(), TTL: String(lease.ttlSeconds) })
    }
    case 'lease/revoke': {
      const req = decodeLeaseRequest(route, body)
      store.revoke(req.id)
      return { header: header() }
    }
    case 'lease/keepalive': {
      const { ids } = JSON.parse(body) as LeaseIdsBody
      const ttls = ids.map((id) => store.renew(BigInt(id), ctx.nowMs))
      const h = header()
      return ids.map((id, i) => omitZero({ header: h, ID: id, TTL: String(ttls[i]) }))
    }
    case 'lease/expire': {
      const { ids } = JSON.parse(body) as LeaseIdsBody
      return ids.filter((id) => store.expire(BigInt(id), ctx.nowMs))
    }
    case 'lease/checkpoint':
      return {}
    case 'lease/timetolive': {
      const req = decodeLeaseRequest(route, body)
      const lease = store.get(req.id)
      if (lease === null) return omitZero({ header: header(), ID: req.id.toString(), TTL: '-1' })
      // etcd: int64(Remaining().Seconds()), truncated toward zero.
      const ttl = Math.trunc((lease.expiryMs - ctx.nowMs) / 1000)
      const o = omitZero({
        header: header(),
        ID: req.id.toString(),
        TTL: String(ttl),
        grantedTTL: String(lease.ttlSeconds),
      })
      if (req.keys) {
        const keys = store.keys(req.id).map(encodeBase64)
        if (keys.length > 0) o['keys'] = keys
      }
      return o
    }
    case 'lease/leases': {
      decodeLeaseRequest(route, body)
      const leases = store.list().map((l) => ({ ID: l.id.toString() }))
      return leases.length > 0 ? { header: header(), leases } : { header: header() }
    }
  }
}

/** Drops zero-valued scalar fields, as etcd's gateway (EmitDefaults off) does. */
function omitZero(o: Record<string, Json>): Record<string, Json> {
  for (const [k, v] of Object.entries(o)) if (v === '0' || v === '') delete o[k]
  return o
}

export { EtcdError }
