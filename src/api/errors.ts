// The one catalog of etcd errors (etcd 3.4 api/v3rpc/rpctypes/error.go): gRPC code, message, and
// the HTTP status etcd's grpc-gateway (v1.9) answers with. Every error the HTTP API returns is
// built here, in etcd's gateway body shape: {"error": msg, "message": msg, "code": grpcCode}.
// Statuses were checked against a running etcd 3.4.23 (test/conformance).

import {
  CompactedError,
  FutureRevError,
  KeyNotFoundError,
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  ResponseTooLargeError,
} from '../mvcc/errors.ts'
import { GoDecodeError } from './go-json.ts'

/** gRPC status codes. */
export const GrpcCode = {
  OK: 0,
  CANCELED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

/** grpc-gateway v1.9's HTTPStatusFromCode, as vendored by etcd 3.4 (FailedPrecondition → 412). */
export function httpStatusFromGrpcCode(code: number): number {
  const table: Record<number, number> = {
    0: 200,
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 412,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
  }
  return table[code] ?? 500
}

/** An etcd error as the API returns it. */
export class EtcdError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }

  /** The HTTP status etcd's gateway answers with. */
  get httpStatus(): number {
    return httpStatusFromGrpcCode(this.code)
  }
}

const e = (code: number, message: string): EtcdError => new EtcdError(code, message)
const C = GrpcCode

/** rpctypes.ErrGRPC*: every etcd server error, by its etcd name. */
export const EtcdErrors = {
  EmptyKey: e(C.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  KeyNotFound: e(C.INVALID_ARGUMENT, 'etcdserver: key not found'),
  ValueProvided: e(C.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  LeaseProvided: e(C.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  TooManyOps: e(C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  DuplicateKey: e(C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  Compacted: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  FutureRev: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  NoSpace: e(C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),

  LeaseNotFound: e(C.NOT_FOUND, 'etcdserver: requested lease not found'),
  LeaseExist: e(C.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  LeaseTTLTooLarge: e(C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),

  WatchCanceled: e(C.CANCELED, 'etcdserver: watch canceled'),

  MemberExist: e(C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  PeerURLExist: e(C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  MemberNotEnoughStarted: e(
    C.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ),
  MemberBadURLs: e(C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  MemberNotFound: e(C.NOT_FOUND, 'etcdserver: member not found'),
  MemberNotLearner: e(C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  LearnerNotReady: e(
    C.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ),
  TooManyLearners: e(C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),

  RequestTooLarge: e(C.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  TooManyRequests: e(C.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),

  RootUserNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  RootRoleNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  UserAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  UserEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  UserNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  RoleAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  RoleNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  RoleEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  AuthFailed: e(
    C.INVALID_ARGUMENT,
    'etcdserver: authentication failed, invalid user ID or password',
  ),
  PermissionDenied: e(C.PERMISSION_DENIED, 'etcdserver: permission denied'),
  RoleNotGranted: e(C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  PermissionNotGranted: e(
    C.FAILED_PRECONDITION,
    'etcdserver: permission is not granted to the role',
  ),
  AuthNotEnabled: e(C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  InvalidAuthToken: e(C.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  InvalidAuthMgmt: e(C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  AuthOldRevision: e(C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),

  NoLeader: e(C.UNAVAILABLE, 'etcdserver: no leader'),
  NotLeader: e(C.FAILED_PRECONDITION, 'etcdserver: not leader'),
  LeaderChanged: e(C.UNAVAILABLE, 'etcdserver: leader changed'),
  NotCapable: e(C.UNAVAILABLE, 'etcdserver: not capable'),
  Stopped: e(C.UNAVAILABLE, 'etcdserver: server stopped'),
  Timeout: e(C.UNAVAILABLE, 'etcdserver: request timed out'),
  TimeoutDueToLeaderFail: e(
    C.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ),
  TimeoutDueToConnectionLost: e(
    C.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
  ),
  TimeoutWaitAppliedIndex: e(
    C.UNAVAILABLE,
    'etcdserver: request timed out, waiting for the applied index took too long',
  ),
  Unhealthy: e(C.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  Corrupt: e(C.DATA_LOSS, 'etcdserver: corrupt cluster'),
  NotSupportedForLearner: e(C.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  BadLeaderTransferee: e(C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  // Not in etcd's gRPC error map: togRPCError passes it on as codes.Unknown.
  TimeoutLeaderTransfer: e(
    C.UNKNOWN,
    'etcdserver: request timed out, leader transfer took too long',
  ),
} as const

/**
 * Errors of etcd's Lock and Election services (v3election, clientv3/concurrency). They are plain
 * Go errors, which gRPC sends as Unknown (code 2, HTTP 500).
 */
export const ConcurrencyErrors = {
  NoLeader: e(C.UNKNOWN, 'election: no leader'),
  NotLeader: e(C.UNKNOWN, 'election: not leader'),
  MissingLeaderKey: e(C.UNKNOWN, '"leader" field must be provided'),
} as const

/**
 * An error from a call the Lock or Election service made on the KV or lease API. etcd's services
 * use an in-process clientv3, whose errors are not gRPC statuses, so they leave as Unknown (code 2,
 * HTTP 500) with the same message (e.g. "etcdserver: requested lease not found").
 */
export function innerCallError(err: EtcdError): EtcdError {
  return new EtcdError(C.UNKNOWN, err.message)
}

/** A request body the gateway cannot decode (bad JSON, wrong type, bad base64): code 3, 400. */
export function decodeError(message: string): EtcdError {
  return new EtcdError(C.INVALID_ARGUMENT, message)
}

/** gRPC's receive limit (etcd: max-request-bytes + 512 KiB): code 8, HTTP 429. */
export function messageTooLargeError(sizeBytes: number, maxBytes: number): EtcdError {
  return new EtcdError(
    C.RESOURCE_EXHAUSTED,
    `grpc: received message larger than max (${sizeBytes} vs. ${maxBytes})`,
  )
}

/** Turns any error into an etcd error: typed MVCC outcomes map to theirs, the rest is Unknown. */
export function toEtcdError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err
  if (err instanceof CompactedError) return EtcdErrors.Compacted
  if (err instanceof FutureRevError) return EtcdErrors.FutureRev
  if (err instanceof LeaseNotFoundError) return EtcdErrors.LeaseNotFound
  if (err instanceof LeaseExistsError) return EtcdErrors.LeaseExist
  if (err instanceof LeaseTtlTooLargeError) return EtcdErrors.LeaseTTLTooLarge
  if (err instanceof KeyNotFoundError) return EtcdErrors.KeyNotFound
  if (err instanceof ResponseTooLargeError) {
    return new EtcdError(
      C.RESOURCE_EXHAUSTED,
      `grpc: trying to send message larger than max (${err.sizeBytes} vs. ${err.maxBytes})`,
    )
  }
  if (err instanceof GoDecodeError) return decodeError(err.message)
  const message = err instanceof Error ? err.message : String(err)
  return new EtcdError(C.UNKNOWN, message)
}

/** The error body etcd's gateway writes, byte for byte (Go's json.Marshal escapes <, >, &). */
export function errorBody(err: EtcdError): string {
  return goJsonEscape(JSON.stringify({ error: err.message, message: err.message, code: err.code }))
}

/** Go's json.Marshal HTML-safe escaping, applied to JSON text. */
export function goJsonEscape(json: string): string {
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** The one translation point: any thrown error → HTTP status and etcd's JSON body. */
export function toHttpError(err: unknown): { status: number; body: string } {
  const etcd = toEtcdError(err)
  return { status: etcd.httpStatus, body: errorBody(etcd) }
}
