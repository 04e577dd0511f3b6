// etcd's Lock and Election services on the wire (v3lockpb/v3lock.proto, v3electionpb/
// v3election.proto), pure: requests decoded as etcd 3.4's grpc-gateway decodes them (Go JSON,
// jsonpb field rules, base64 bytes, int64 as number or string, unknown fields ignored) and the
// responses as it writes them (proto field order, zero values omitted). Headers and key-values
// come from the inner KV calls already in wire form and are passed through unchanged.
import { decodeError } from './errors.ts'
import { GoDecodeError, encodeBase64, parseGoJson } from './go-json.ts'
import { bytesField, field, int64Field, message, num } from './kv-schema.ts'
import type { Json } from './kv-service.ts'

/** The Lock service's gateway routes: `/v3/lock/<route>`. */
export type LockRoute = 'lock' | 'unlock'
/** The Election service's gateway routes: `/v3/election/<route>`. */
export type ElectionRoute = 'campaign' | 'proclaim' | 'leader' | 'observe' | 'resign'

/** LockRequest: name (1), lease (2). lease 0 = the server grants a session lease. */
export interface LockRequest {
  name: Uint8Array
  lease: bigint
}

/** UnlockRequest: key (1), the key Lock answered. */
export interface UnlockRequest {
  key: Uint8Array
}

/** CampaignRequest: name (1), lease (2), value (3). */
export interface CampaignRequest {
  name: Uint8Array
  lease: bigint
  value: Uint8Array
}

/** LeaderKey: what Campaign answers and Proclaim/Resign take back. */
export interface LeaderKey {
  name: Uint8Array
  key: Uint8Array
  /** The leader key's create revision. */
  rev: number
  lease: bigint
}

/** ProclaimRequest: leader (1; absent → error), value (2). */
export interface ProclaimRequest {
  leader: LeaderKey | undefined
  value: Uint8Array
}

/** LeaderRequest (also Observe's request): name (1). */
export interface LeaderRequest {
  name: Uint8Array
}

/** ResignRequest: leader (1; absent → error). */
export interface ResignRequest {
  leader: LeaderKey | undefined
}

/** A decoded Lock or Election request, tagged by route. */
export type ConcurrencyRequest =
  | { route: 'lock'; request: LockRequest }
  | { route: 'unlock'; request: UnlockRequest }
  | { route: 'campaign'; request: CampaignRequest }
  | { route: 'proclaim'; request: ProclaimRequest }
  | { route: 'leader'; request: LeaderRequest }
  | { route: 'observe'; request: LeaderRequest }
  | { route: 'resign'; request: ResignRequest }

const LockRequestSchema = message(() => ({ name: bytesField, lease: int64Field }))
const UnlockRequestSchema = message(() => ({ key: bytesField }))
const CampaignRequestSchema = message(() => ({
  name: bytesField,
  lease: int64Field,
  value: bytesField,
}))
const LeaderKeySchema = message(() => ({
  name: bytesField,
  key: bytesField,
  rev: int64Field,
  lease: int64Field,
})).transform((m): LeaderKey => ({ name: m.name, key: m.key, rev: num(m.rev), lease: m.lease }))
/** A message field: absent or null → undefined (jsonpb leaves the pointer nil), else decoded. */
const leaderField = field<LeaderKey | undefined>(
  (n) => LeaderKeySchema.parse(n),
  () => undefined,
)
const ProclaimRequestSchema = message(() => ({ leader: leaderField, value: bytesField }))
const LeaderRequestSchema = message(() => ({ name: bytesField }))
const ResignRequestSchema = message(() => ({ leader: leaderField }))

/** Decodes a request body as etcd's gateway does. Throws EtcdError (code 3, HTTP 400). */
export function decodeConcurrencyRequest(
  route: LockRoute | ElectionRoute,
  body: string,
): ConcurrencyRequest {
  try {
    const node = parseGoJson(body, 'decoder')
    switch (route) {
      case 'lock':
        return { route, request: LockRequestSchema.parse(node) }
      case 'unlock':
        return { route, request: UnlockRequestSchema.parse(node) }
      case 'campaign':
        return { route, request: CampaignRequestSchema.parse(node) }
      case 'proclaim':
        return { route, request: ProclaimRequestSchema.parse(node) }
      case 'leader':
      case 'observe':
        return { route, request: LeaderRequestSchema.parse(node) }
      case 'resign':
        return { route, request: ResignRequestSchema.parse(node) }
    }
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}

// ---- responses: header (1) first, then the message's own fields, zeros omitted ----------------

/** A response header or key-value as an inner KV call returned it (wire JSON). */
export type WireObject = Record<string, Json>

/** LockResponse: header, key. */
export function encodeLockResponse(header: WireObject, key: Uint8Array): string {
  const o: WireObject = { header }
  if (key.length > 0) o['key'] = encodeBase64(key)
  return JSON.stringify(o)
}

/** UnlockResponse, ProclaimResponse, ResignResponse: only a header. */
export function encodeHeaderOnly(header: WireObject): string {
  return JSON.stringify({ header })
}

/** CampaignResponse: header, leader {name, key, rev, lease}. */
export function encodeCampaignResponse(header: WireObject, leader: LeaderKey): string {
  const l: WireObject = {}
  if (leader.name.length > 0) l['name'] = encodeBase64(leader.name)
  if (leader.key.length > 0) l['key'] = encodeBase64(leader.key)
  if (leader.rev !== 0) l['rev'] = String(leader.rev)
  if (leader.lease !== 0n) l['lease'] = leader.lease.toString()
  return JSON.stringify({ header, leader: l })
}

/** LeaderResponse: header, kv. As one `{"result": ...}` line on an Observe stream when `line`. */
export function encodeLeaderResponse(header: WireObject, kv: object, line = false): string {
  const o = { header, kv }
  return JSON.stringify(line ? { result: o } : o)
}
