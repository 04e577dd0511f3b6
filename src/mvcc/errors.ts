// Expected outcomes of MVCC operations, as typed errors (STYLE.md §4). src/api/errors.ts maps
// each to etcd's gRPC code, message and HTTP status; nothing here knows about the wire.

/** Base class: every expected MVCC failure. */
export abstract class MvccError extends Error {
  abstract readonly kind: string
}

/** etcd mvcc.ErrCompacted: the revision asked for was compacted away. */
export class CompactedError extends MvccError {
  readonly kind = 'compacted'
  constructor() {
    super('mvcc: required revision has been compacted')
  }
}

/** etcd mvcc.ErrFutureRev: the revision asked for is above the current revision. */
export class FutureRevError extends MvccError {
  readonly kind = 'future-rev'
  constructor() {
    super('mvcc: required revision is a future revision')
  }
}

/** etcd lease.ErrLeaseNotFound: a put names a lease the lessor does not know. */
export class LeaseNotFoundError extends MvccError {
  readonly kind = 'lease-not-found'
  constructor(readonly leaseId: bigint) {
    super('lease not found')
  }
}

/** etcd etcdserver.ErrKeyNotFound: ignore_value / ignore_lease on a key that does not exist. */
export class KeyNotFoundError extends MvccError {
  readonly kind = 'key-not-found'
  constructor() {
    super('etcdserver: key not found')
  }
}

/**
 * A range whose reply would exceed the store's response-size cap. etcd has no such cap (its gRPC
 * send limit is 2 GiB); we bound replies so a member never builds an unbounded one.
 */
export class ResponseTooLargeError extends MvccError {
  readonly kind = 'response-too-large'
  constructor(
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super(`range response larger than max (${sizeBytes} vs. ${maxBytes})`)
  }
}

/** A broken invariant: crash loudly (STYLE.md §4), never a client error. */
export class AssertionError extends Error {}

/** Throws AssertionError when `cond` is false. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionError(message)
}

/** etcd lease.ErrLeaseExists: a grant names an id that is already a lease. */
export class LeaseExistsError extends MvccError {
  readonly kind = 'lease-exists'
  constructor() {
    super('lease already exists')
  }
}

/** etcd lease.ErrLeaseTTLTooLarge: a grant's TTL is above MaxLeaseTTL. */
export class LeaseTtlTooLargeError extends MvccError {
  readonly kind = 'lease-ttl-too-large'
  constructor() {
    super('too large lease TTL')
  }
}
