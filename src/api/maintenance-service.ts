// The maintenance service, pure (etcd 3.4 etcdserver/api/v3rpc/maintenance.go and the alarm
// applier of etcdserver/apply.go): request decoding as etcd's gateway does it, the alarm
// applier's answers, the quota's cost of a request, and etcd's JSON for each response.
//
// Wire shapes, checked against a running etcd 3.4.23 (test/conformance/maintenance.test.ts):
//   AlarmResponse, DefragmentResponse, MoveLeaderResponse carry NO header (etcd never fills it);
//   StatusResponse, HashResponse, HashKVResponse do. Field names are rpc.proto's (memberID,
//   dbSize, raftIndex, …), enums are names, and a zero enum (NONE, GET) is omitted.
import { z } from 'zod'
import type { KvRequest } from './kv-service.ts'
import { encodeHeader, type HeaderContext, type Json } from './kv-service.ts'
import { EtcdErrors, decodeError, type EtcdError } from './errors.ts'
import { GoDecodeError, goKind, parseGoJson, type GoJson } from './go-json.ts'
import { enumField, field, int64Field, message } from './kv-schema.ts'

/** rpc.proto AlarmType. */
export const ALARM_TYPE = { NONE: 0, NOSPACE: 1, CORRUPT: 2 } as const
/** rpc.proto AlarmRequest.AlarmAction. */
export const ALARM_ACTION = { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } as const

/** An alarm type as etcd names it (a number when the client sent one etcd has no name for). */
export type AlarmName = 'NONE' | 'NOSPACE' | 'CORRUPT' | `${number}`

/** One raised alarm: which member raised it, and what. memberID is a uint64 decimal string. */
export interface AlarmMember {
  memberID: string
  alarm: AlarmName
}

/** AlarmRequest, decoded. */
export interface AlarmRequest {
  action: number
  memberID: string
  alarm: AlarmName
}

const UINT64_MAX = 2n ** 64n - 1n

/** uint64: a JSON number or a quoted one (jsonpb), as a decimal string. */
function uint64Of(node: GoJson): string {
  const n = node.t === 'string' ? parseGoJson(node.raw, 'unmarshal')! : node
  if (n.t === 'null') return '0'
  if (n.t !== 'number') {
    throw new GoDecodeError(`json: cannot unmarshal ${goKind(n)} into Go value of type uint64`)
  }
  const bad = new GoDecodeError(
    `json: cannot unmarshal number ${n.raw} into Go value of type uint64`,
  )
  if (!/^\d+$/.test(n.raw)) throw bad
  const v = BigInt(n.raw)
  if (v > UINT64_MAX) throw bad
  return v.toString()
}

const uint64Field = field(uint64Of, () => '0')

function alarmName(n: number): AlarmName {
  const name = Object.entries(ALARM_TYPE).find(([, v]) => v === n)?.[0]
  return (name as AlarmName | undefined) ?? (`${n}` as AlarmName)
}

const AlarmRequestSchema = message(() => ({
  action: enumField('etcdserverpb.AlarmRequest_AlarmAction', ALARM_ACTION),
  memberID: uint64Field,
  alarm: enumField('etcdserverpb.AlarmType', ALARM_TYPE),
})).transform((m): AlarmRequest => ({
  action: m.action,
  memberID: m.memberID,
  alarm: alarmName(m.alarm),
}))

const HashKVRequestSchema = message(() => ({ revision: int64Field })).transform((m) => ({
  revision: Number(m.revision),
}))

const MoveLeaderRequestSchema = message(() => ({ targetID: uint64Field })).transform((m) => ({
  targetID: m.targetID,
}))

/** Messages with no fields (StatusRequest, HashRequest, DefragmentRequest): only the JSON counts. */
const EmptyRequestSchema = message(() => ({ _unused: z.custom<GoJson | undefined>() }))

/** Parses a body as etcd's gateway would; bad JSON gets etcd's code 3 error. */
function decode<T>(body: string, schema: z.ZodType<T, GoJson | undefined>): T {
  try {
    return schema.parse(parseGoJson(body, 'decoder'))
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}

export const decodeAlarmRequest = (body: string): AlarmRequest => decode(body, AlarmRequestSchema)
export const decodeHashKvRequest = (body: string): { revision: number } =>
  decode(body, HashKVRequestSchema)
export const decodeMoveLeaderRequest = (body: string): { targetID: string } =>
  decode(body, MoveLeaderRequestSchema)
/** StatusRequest, HashRequest, DefragmentRequest: no fields, but the body must be JSON. */
export function decodeEmptyRequest(body: string): void {
  decode(body, EmptyRequestSchema)
}

// ---- the alarm applier (etcd apply.go applierV3backend.Alarm) ---------------------------------

/** The replicated alarm set (src/member/alarms.ts keeps it in SQLite). */
export interface AlarmSet {
  /** Every alarm of `type` ('NONE' = all). */
  get(type: AlarmName): AlarmMember[]
  /** Adds an alarm; returns false when that member already had it. */
  add(alarm: AlarmMember): boolean
  /** Removes an alarm; returns false when it was not raised. */
  remove(alarm: AlarmMember): boolean
}

/**
 * Applies an AlarmRequest to the alarm set, as etcd's applier does: GET lists (all alarms for
 * NONE), ACTIVATE answers with the alarm (the existing one if it was already raised),
 * DEACTIVATE with the removed alarm (nothing if it was not raised). An unknown action answers
 * nothing (etcd returns a nil response).
 */
export function applyAlarm(alarms: AlarmSet, req: AlarmRequest): AlarmMember[] {
  const member: AlarmMember = { memberID: req.memberID, alarm: req.alarm }
  switch (req.action) {
    case ALARM_ACTION.GET:
      return alarms.get(req.alarm)
    case ALARM_ACTION.ACTIVATE:
      alarms.add(member)
      return [member]
    case ALARM_ACTION.DEACTIVATE:
      return alarms.remove(member) ? [member] : []
    default:
      return []
  }
}

/**
 * Which requests an active alarm refuses at apply (etcd restoreAlarms: NOSPACE → the capped
 * applier, CORRUPT → the corrupt applier). Capped refuses puts and txns whose top-level ops put
 * anything (nested txns are not counted, as etcd's costTxn); corrupt refuses every KV write.
 * etcd's running server switches appliers on activation and back to the plain one when either
 * alarm type clears; the rule here is the one etcd applies at restart, so every member, restarted
 * or not, refuses exactly the same entries.
 */
export function alarmRefusal(alarms: AlarmSet, req: KvRequest): EtcdError | null {
  if (req.route === 'range') return null
  const raised = alarms.get('NONE')
  if (raised.length === 0) return null
  if (raised.some((a) => a.alarm === 'CORRUPT')) return EtcdErrors.Corrupt
  if (raised.some((a) => a.alarm === 'NOSPACE') && quotaCost(req) > 0) return EtcdErrors.NoSpace
  return null
}

/**
 * Lease grants under an active alarm: etcd's capped applier refuses them (NOSPACE) and its corrupt
 * applier too (CORRUPT); revoke, keepalive and expiry pass (they free space).
 */
export function leaseGrantRefusal(alarms: AlarmSet): EtcdError | null {
  const raised = alarms.get('NONE')
  if (raised.some((a) => a.alarm === 'CORRUPT')) return EtcdErrors.Corrupt
  if (raised.some((a) => a.alarm === 'NOSPACE')) return EtcdErrors.NoSpace
  return null
}

// ---- the backend quota (etcd quota.go) --------------------------------------------------------

/** etcd's estimate of a key's metadata (kvOverhead) and of a lease (leaseOverhead). */
export const KV_OVERHEAD_BYTES = 256
export const LEASE_OVERHEAD_BYTES = 64

/**
 * etcd's quota cost of a request: puts cost 256 + key + value bytes; a txn costs the larger of
 * its success and failure branches' top-level puts; anything else costs nothing (and so always
 * passes the quota). A lease grant costs LEASE_OVERHEAD_BYTES.
 */
export function quotaCost(req: KvRequest): number {
  if (req.route === 'put')
    return KV_OVERHEAD_BYTES + req.request.key.length + req.request.value.length
  if (req.route !== 'txn') return 0
  const branch = (ops: typeof req.request.success): number =>
    ops.reduce(
      (sum, op) =>
        op.type === 'put'
          ? sum + KV_OVERHEAD_BYTES + op.request.key.length + op.request.value.length
          : sum,
      0,
    )
  return Math.max(branch(req.request.success), branch(req.request.failure))
}

/**
 * etcd's backendQuota.Available: a request that costs nothing always passes; otherwise the
 * backend's size plus the cost must stay below the quota. A negative quota disables it; zero
 * means etcd's default (2 GiB).
 */
export function quotaAvailable(dbSizeBytes: number, cost: number, quotaBytes: number): boolean {
  if (quotaBytes < 0 || cost === 0) return true
  const max = quotaBytes === 0 ? 2 * 1024 ** 3 : quotaBytes
  return dbSizeBytes + cost < max
}

// ---- responses --------------------------------------------------------------------------------

function encodeAlarmMember(a: AlarmMember): Record<string, Json> {
  const o: Record<string, Json> = {}
  if (a.memberID !== '0') o['memberID'] = a.memberID
  if (a.alarm !== 'NONE') o['alarm'] = a.alarm
  return o
}

/** AlarmResponse: no header (etcd never fills it), `alarms` omitted when empty. */
export function encodeAlarmResponse(alarms: AlarmMember[]): string {
  return JSON.stringify(alarms.length === 0 ? {} : { alarms: alarms.map(encodeAlarmMember) })
}

/** An alarm as etcd's Status lists it in `errors`: gogo's compact text form, trailing space. */
export function alarmStatusText(a: AlarmMember): string {
  return `${a.memberID === '0' ? '' : `memberID:${a.memberID} `}${a.alarm === 'NONE' ? '' : `alarm:${a.alarm} `}`
}

/** What a member knows for StatusResponse. */
export interface StatusFacts {
  revision: number
  version: string
  dbSizeBytes: number
  dbSizeInUseBytes: number
  /** Leader's member id, '0' or '' when there is none. */
  leader: string
  /** Raft's committed index (etcd reports CommittedIndex as raftIndex). */
  raftCommitIndex: number
  raftTerm: number
  raftAppliedIndex: number
  isLearner: boolean
  alarms: AlarmMember[]
}

/** StatusResponse, in rpc.proto field order; errors: "no leader" first, then each alarm. */
export function encodeStatusResponse(s: StatusFacts, header: HeaderContext): string {
  const o: Record<string, Json> = { header: encodeHeader(s.revision, header) }
  const put = (name: string, v: string | boolean | Json[]): void => {
    if (v === '' || v === '0' || v === false || (Array.isArray(v) && v.length === 0)) return
    o[name] = v
  }
  const leader = s.leader === '' ? '0' : s.leader
  put('version', s.version)
  put('dbSize', String(s.dbSizeBytes))
  put('leader', leader)
  put('raftIndex', String(s.raftCommitIndex))
  put('raftTerm', String(s.raftTerm))
  put('raftAppliedIndex', String(s.raftAppliedIndex))
  const errors: string[] = leader === '0' ? [EtcdErrors.NoLeader.message] : []
  put('errors', [...errors, ...s.alarms.map(alarmStatusText)])
  put('dbSizeInUse', String(s.dbSizeInUseBytes))
  put('isLearner', s.isLearner)
  return JSON.stringify(o)
}

/** HashResponse: header (revision = the store's current one) and a uint32 hash (a JSON number). */
export function encodeHashResponse(hash: number, revision: number, header: HeaderContext): string {
  const o: Record<string, Json> = { header: encodeHeader(revision, header) }
  const body = JSON.stringify(o)
  return hash === 0 ? body : `${body.slice(0, -1)},"hash":${hash}}`
}

/** HashKVResponse: header, hash (uint32 number), compact_revision (int64 string). */
export function encodeHashKvResponse(
  r: { hash: number; currentRevision: number; compactRevision: number },
  header: HeaderContext,
): string {
  let body = JSON.stringify({ header: encodeHeader(r.currentRevision, header) }).slice(0, -1)
  if (r.hash !== 0) body += `,"hash":${r.hash}`
  if (r.compactRevision !== 0) body += `,"compact_revision":"${r.compactRevision}"`
  return body + '}'
}
