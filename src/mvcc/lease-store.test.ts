import { describe, expect, it } from 'vitest'
import { mvccSql } from '../../test/support/node-sql.ts'
import { LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from './errors.ts'
import { KvStore } from './kv-store.ts'
import { LeaseStore, MAX_LEASE_TTL_SECONDS, minLeaseTtlSeconds } from './lease-store.ts'
import { deleteRangeRequest, putRequest, txnRequest } from './types.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()
const b = (s: string): Uint8Array => enc.encode(s)

function stores(): { kv: KvStore; leases: LeaseStore } {
  const sql = mvccSql()
  const ref: { leases?: LeaseStore } = {}
  const kv = new KvStore(sql, { leaseExists: (id) => ref.leases!.exists(id) })
  const leases = new LeaseStore(sql, kv)
  ref.leases = leases
  return { kv, leases }
}

const keysOf = (leases: LeaseStore, id: bigint): string[] =>
  leases.keys(id).map((k) => dec.decode(k))

describe('minLeaseTtlSeconds', () => {
  // etcd: ceil((3 * electionTicks / 2) * heartbeat): a lease outlives one election.
  it.each([
    [10, 100, 2],
    [10, 50, 1],
    [20, 100, 3],
    [5, 100, 1],
    [10, 1000, 15],
  ])('%i election ticks of %i ms give %i s', (ticks, heartbeatMs, want) => {
    expect(minLeaseTtlSeconds(ticks, heartbeatMs)).toBe(want)
  })
})

describe('LeaseStore.grant', () => {
  it('stores the TTL and the expiry in lease time', () => {
    const { leases } = stores()
    expect(leases.grant(7n, 10n, 2, 5_000)).toEqual({ id: 7n, ttlSeconds: 10, expiryMs: 15_000 })
    expect(leases.get(7n)).toEqual({ id: 7n, ttlSeconds: 10, expiryMs: 15_000 })
  })

  it('raises a TTL below the minimum to it, as etcd does (0 and negative too)', () => {
    const { leases } = stores()
    expect(leases.grant(1n, 1n, 2, 0).ttlSeconds).toBe(2)
    expect(leases.grant(2n, 0n, 2, 0).ttlSeconds).toBe(2)
    expect(leases.grant(3n, -5n, 2, 0).ttlSeconds).toBe(2)
  })

  it('refuses a TTL above MaxLeaseTTL and accepts MaxLeaseTTL itself', () => {
    const { leases } = stores()
    expect(() => leases.grant(1n, BigInt(MAX_LEASE_TTL_SECONDS) + 1n, 2, 0)).toThrow(
      LeaseTtlTooLargeError,
    )
    expect(() => leases.grant(2n, 2n ** 63n - 1n, 2, 0)).toThrow(LeaseTtlTooLargeError)
    expect(leases.grant(3n, BigInt(MAX_LEASE_TTL_SECONDS), 2, 0).ttlSeconds).toBe(9e9)
    expect(leases.count()).toBe(1)
  })

  it('refuses an ID that is already a lease, negative and 64-bit IDs included', () => {
    const { leases } = stores()
    const big = 2n ** 63n - 1n
    leases.grant(big, 10n, 2, 0)
    leases.grant(-7n, 10n, 2, 0)
    expect(() => leases.grant(big, 10n, 2, 0)).toThrow(LeaseExistsError)
    expect(() => leases.grant(-7n, 10n, 2, 0)).toThrow(LeaseExistsError)
    // Exactly, not rounded through a double: 2^63-1 and 2^63-2 are different leases.
    expect(leases.exists(big - 1n)).toBe(false)
    expect(leases.get(big)?.id).toBe(big)
  })
})

describe('attaching keys (put and delete do it)', () => {
  it('a put with a lease attaches; another lease or none detaches; delete detaches', () => {
    const { kv, leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    leases.grant(2n, 10n, 2, 0)
    kv.put(putRequest({ key: b('a'), lease: 1n }))
    kv.put(putRequest({ key: b('b'), lease: 1n }))
    kv.put(putRequest({ key: b('c'), lease: 1n }))
    expect(keysOf(leases, 1n)).toEqual(['a', 'b', 'c'])
    kv.put(putRequest({ key: b('a'), lease: 2n }))
    kv.put(putRequest({ key: b('b') }))
    kv.deleteRange(deleteRangeRequest({ key: b('c') }))
    expect(keysOf(leases, 1n)).toEqual([])
    expect(keysOf(leases, 2n)).toEqual(['a'])
  })

  it('ignore_lease keeps the key on its lease', () => {
    const { kv, leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    kv.put(putRequest({ key: b('a'), lease: 1n }))
    kv.put(putRequest({ key: b('a'), value: b('v2'), ignoreLease: true }))
    expect(keysOf(leases, 1n)).toEqual(['a'])
  })

  it('a put or txn put with an unknown lease fails and writes nothing', () => {
    const { kv } = stores()
    expect(() => kv.put(putRequest({ key: b('a'), lease: 9n }))).toThrow(LeaseNotFoundError)
    const txn = txnRequest({
      success: [
        { type: 'put', request: putRequest({ key: b('x') }) },
        { type: 'put', request: putRequest({ key: b('y'), lease: 9n }) },
      ],
    })
    expect(() => kv.txn(txn)).toThrow(LeaseNotFoundError)
    expect(kv.currentRevision()).toBe(1)
  })
})

describe('LeaseStore.revoke', () => {
  it('deletes every attached key in ONE revision, then the lease', () => {
    const { kv, leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    leases.grant(2n, 10n, 2, 0)
    kv.put(putRequest({ key: b('b'), lease: 1n }))
    kv.put(putRequest({ key: b('a'), lease: 1n }))
    kv.put(putRequest({ key: b('other'), lease: 2n }))
    const before = kv.currentRevision()
    expect(leases.revoke(1n)).toBe(before + 1)
    expect(leases.exists(1n)).toBe(false)
    const events = kv.eventsSince(before + 1, b('\0'), b('\0'))
    expect(events.map((e) => [e.type, dec.decode(e.kv.key), e.kv.modRevision])).toEqual([
      ['DELETE', 'a', before + 1],
      ['DELETE', 'b', before + 1],
    ])
    expect(keysOf(leases, 2n)).toEqual(['other'])
  })

  it('a lease without keys is revoked without a new revision', () => {
    const { kv, leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    expect(leases.revoke(1n)).toBe(kv.currentRevision())
    expect(kv.currentRevision()).toBe(1)
  })

  it('an unknown lease is LeaseNotFound', () => {
    const { leases } = stores()
    expect(() => leases.revoke(5n)).toThrow(LeaseNotFoundError)
  })
})

describe('LeaseStore.renew and expire', () => {
  it('a keepalive moves the expiry to TTL after it and answers the granted TTL', () => {
    const { leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    expect(leases.renew(1n, 4_000)).toBe(10)
    expect(leases.get(1n)?.expiryMs).toBe(14_000)
  })

  it('an unknown or already expired lease answers 0 and is not revived', () => {
    const { leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    expect(leases.renew(2n, 0)).toBe(0)
    expect(leases.renew(1n, 10_000)).toBe(0)
    expect(leases.get(1n)?.expiryMs).toBe(10_000)
  })

  it('expire revokes only a lease still past its expiry at the entry time', () => {
    const { kv, leases } = stores()
    leases.grant(1n, 10n, 2, 0)
    kv.put(putRequest({ key: b('k'), lease: 1n }))
    // A keepalive applied after the leader decided (at 10 000) wins over the expire entry.
    leases.renew(1n, 9_999)
    expect(leases.expire(1n, 10_000)).toBe(false)
    expect(leases.expire(1n, 19_998)).toBe(false)
    expect(leases.expire(1n, 19_999)).toBe(true)
    expect(leases.exists(1n)).toBe(false)
    expect(kv.range({ ...rangeAll() }).count).toBe(0)
    expect(leases.expire(1n, 50_000)).toBe(false)
  })

  it('lists leases soonest expiry first and finds the expired ones', () => {
    const { leases } = stores()
    leases.grant(1n, 30n, 2, 0)
    leases.grant(2n, 10n, 2, 0)
    leases.grant(3n, 20n, 2, 0)
    expect(leases.list().map((l) => l.id)).toEqual([2n, 3n, 1n])
    expect(leases.expired(9_999, 10)).toEqual([])
    expect(leases.expired(20_000, 10)).toEqual([2n, 3n])
    expect(leases.expired(40_000, 1)).toEqual([2n])
  })
})

describe('the lease clock row', () => {
  it('is empty until a lease entry sets it, then holds the last one', () => {
    const { leases } = stores()
    expect(leases.clock()).toBeNull()
    leases.setClock(5_000, 2)
    leases.setClock(6_000, 3)
    expect(leases.clock()).toEqual({ nowMs: 6_000, term: 3 })
  })
})

function rangeAll() {
  return {
    key: new Uint8Array([0]),
    rangeEnd: new Uint8Array([0]),
    limit: 0,
    revision: 0,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
  }
}
