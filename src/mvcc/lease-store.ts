// Leases over the Sql interface, modelled on etcd 3.4's lessor (server/lease/lessor.go) and the
// lease part of its applier. Pure and deterministic: every time is lease time (lease-clock.ts)
// carried by the raft entry being applied, so every member reaches the same state.
//
// A lease's keys are the live keys whose mvcc_latest.lease names it (migration 0003): attaching
// and detaching happen in KvStore's put and delete, so they can never disagree with the keys.
//
// Invariant: every lease row has ttl >= 1 and expiry_ms set; a revoked lease has no row and no
// live key names it (revoke deletes them in the same write transaction).

import { assert, LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from './errors.ts'
import type { KvStore } from './kv-store.ts'
import type { Sql } from './sql.ts'
import { toBigInt, toBytes, toNum } from './sql.ts'
import { deleteRangeRequest } from './types.ts'

/** etcd lease.MaxLeaseTTL: the largest TTL a grant accepts, in seconds. */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000

/** One lease as stored. */
export interface Lease {
  id: bigint
  /** Granted TTL, seconds. */
  ttlSeconds: number
  /** Lease time at which it expires (as of its last grant or keepalive). */
  expiryMs: number
}

/**
 * etcd's minimum lease TTL (etcdserver/server.go): (3 * electionTicks / 2) heartbeats, rounded
 * up to whole seconds — so a lease outlives a leader election. 100 ms / 1 s gives 2 s.
 */
export function minLeaseTtlSeconds(electionTicks: number, heartbeatIntervalMs: number): number {
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs) / 1000)
}

/** The lease table and the replicated lease clock row. */
export class LeaseStore {
  constructor(
    private readonly sql: Sql,
    private readonly kv: KvStore,
  ) {}

  /** The lease `id`, or null. */
  get(id: bigint): Lease | null {
    const row = this.sql
      .exec('SELECT id, ttl, expiry_ms FROM lease WHERE id = ?', id.toString())
      .toArray()[0]
    return row === undefined ? null : rowToLease(row)
  }

  /** Whether `id` names a lease (KvStore's leaseExists hook). */
  exists(id: bigint): boolean {
    return this.sql.exec('SELECT 1 FROM lease WHERE id = ?', id.toString()).toArray().length > 0
  }

  /**
   * etcd's lessor.Grant at lease time `nowMs`: a TTL above MaxLeaseTTL fails, an existing id
   * fails, a TTL below the minimum is raised to it. Throws LeaseTtlTooLargeError, LeaseExistsError.
   */
  grant(id: bigint, ttlSeconds: bigint, minTtlSeconds: number, nowMs: number): Lease {
    assert(id !== 0n, 'a lease id is never 0 (the leader picks one before proposing)')
    if (ttlSeconds > BigInt(MAX_LEASE_TTL_SECONDS)) throw new LeaseTtlTooLargeError()
    if (this.exists(id)) throw new LeaseExistsError()
    const ttl = Math.max(Number(ttlSeconds), minTtlSeconds)
    const lease = { id, ttlSeconds: ttl, expiryMs: nowMs + ttl * 1000 }
    this.sql.exec(
      'INSERT INTO lease (id, ttl, expiry_ms) VALUES (?, ?, ?)',
      id.toString(),
      ttl,
      lease.expiryMs,
    )
    return lease
  }

  /**
   * etcd's lessor.Revoke: deletes every key attached to the lease in ONE write transaction (one
   * revision, keys in byte order, as etcd sorts them), then the lease. Returns the revision after
   * it. Throws LeaseNotFoundError.
   */
  revoke(id: bigint): number {
    if (!this.exists(id)) throw new LeaseNotFoundError(id)
    const txn = this.kv.beginWrite()
    for (const key of this.keys(id)) this.kv.deleteRangeIn(txn, deleteRangeRequest({ key }))
    this.kv.endWrite(txn)
    this.sql.exec('DELETE FROM lease WHERE id = ?', id.toString())
    return this.kv.currentRevision()
  }

  /**
   * A keepalive at lease time `nowMs`: the lease expires TTL after it. A lease already past its
   * expiry is not revived (it waits for its expire entry, as etcd's Renew waits for the revoke).
   * Returns the granted TTL, or 0 for a lease that does not exist or expired (etcd's answer).
   */
  renew(id: bigint, nowMs: number): number {
    const lease = this.get(id)
    if (lease === null || lease.expiryMs <= nowMs) return 0
    this.sql.exec(
      'UPDATE lease SET expiry_ms = ? WHERE id = ?',
      nowMs + lease.ttlSeconds * 1000,
      id.toString(),
    )
    return lease.ttlSeconds
  }

  /**
   * The leader's expiry decision, applied: revokes the lease if it still exists and is past its
   * expiry at `nowMs` (a keepalive applied in between wins). Returns whether it was revoked.
   */
  expire(id: bigint, nowMs: number): boolean {
    const lease = this.get(id)
    if (lease === null || lease.expiryMs > nowMs) return false
    this.revoke(id)
    return true
  }

  /** Leases whose expiry is at or before `nowMs`, soonest first, at most `limit`. */
  expired(nowMs: number, limit: number): bigint[] {
    return this.sql
      .exec(
        'SELECT id FROM lease WHERE expiry_ms <= ? ORDER BY expiry_ms, id LIMIT ?',
        nowMs,
        limit,
      )
      .toArray()
      .map((r) => toBigInt(r['id']))
  }

  /** Every lease, soonest expiry first (etcd's Leases sorts by expiry). */
  list(): Lease[] {
    return this.sql
      .exec('SELECT id, ttl, expiry_ms FROM lease ORDER BY expiry_ms, id')
      .toArray()
      .map(rowToLease)
  }

  /** How many leases exist. */
  count(): number {
    return toNum(this.sql.exec('SELECT count(*) AS n FROM lease').one()['n'])
  }

  /** The live keys attached to the lease, in byte order. */
  keys(id: bigint): Uint8Array[] {
    return this.sql
      .exec('SELECT key FROM mvcc_latest WHERE lease = ? ORDER BY key', id.toString())
      .toArray()
      .map((r) => toBytes(r['key']))
  }

  /** Records the lease time and raft term of the lease entry being applied. */
  setClock(nowMs: number, term: number): void {
    this.sql.exec(
      `INSERT INTO lease_clock (id, now_ms, term) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET now_ms = excluded.now_ms, term = excluded.term`,
      nowMs,
      term,
    )
  }

  /** The last recorded lease time and term, or null before any lease entry. */
  clock(): { nowMs: number; term: number } | null {
    const row = this.sql.exec('SELECT now_ms, term FROM lease_clock WHERE id = 1').toArray()[0]
    return row === undefined ? null : { nowMs: toNum(row['now_ms']), term: toNum(row['term']) }
  }
}

function rowToLease(row: Record<string, unknown>): Lease {
  return {
    id: BigInt(String(row['id'])),
    ttlSeconds: Number(row['ttl']),
    expiryMs: Number(row['expiry_ms']),
  }
}
