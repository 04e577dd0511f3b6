// The pure half of the lock and election services: keys, request bodies, and the decisions taken
// on answers, on hand-built KV answers shaped as etcd 3.4 writes them.
import { describe, expect, it } from 'vitest'
import {
  byRevision,
  campaignStart,
  firstCreateRange,
  LeaderTracker,
  lockStart,
  lockTxn,
  prefixEnd,
  prefixOf,
  sessionKey,
  waiterStep,
  type WireEvent,
  type WireKv,
  type WireTxnResponse,
} from './concurrency.ts'
import { decodeKvRequest } from './kv-service.ts'

const text = (b: Uint8Array) => new TextDecoder().decode(b)
const bytes = (s: string) => new TextEncoder().encode(s)
const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('keys', () => {
  it('names a session key <name>/<lease in lower-case hex>, as Go %x', () => {
    const prefix = prefixOf(bytes('l1'))
    expect(text(sessionKey(prefix, 6973157729394032645n))).toBe('l1/60c5a2026f4d0005')
    expect(text(sessionKey(prefixOf(bytes('')), 255n))).toBe('/ff')
  })

  it.each([
    ['ab', [0x61, 0x63]],
    ['a\xff', [0x62]],
  ])('ends the prefix range of %j', (p, end) => {
    expect([...prefixEnd(Uint8Array.from([...p].map((c) => c.charCodeAt(0))))]).toEqual(end)
  })

  it('ends an all-0xff prefix at "\\0" (every key from it on)', () => {
    expect([...prefixEnd(Uint8Array.from([0xff, 0xff]))]).toEqual([0])
  })
})

describe('request bodies are valid KV requests', () => {
  it('lockTxn decodes as a txn comparing create_revision = 0', () => {
    const prefix = prefixOf(bytes('l'))
    const body = JSON.stringify(lockTxn(sessionKey(prefix, 10n), prefix, 10n))
    const req = decodeKvRequest('txn', body)
    expect(req.route).toBe('txn')
    if (req.route !== 'txn') return
    expect(req.request.compare[0]).toMatchObject({ target: 1, createRevision: 0 })
    expect(req.request.success.map((op) => op.type)).toEqual(['put', 'range'])
    expect(req.request.failure.map((op) => op.type)).toEqual(['range', 'range'])
  })

  it('firstCreateRange asks for the oldest key only, at a revision when given', () => {
    const req = decodeKvRequest('range', JSON.stringify(firstCreateRange(bytes('e/'), 7)))
    expect(req.request).toMatchObject({ limit: 1, sortOrder: 1, sortTarget: 2, revision: 7 })
  })
})

const header = (revision: number) => ({ revision: String(revision) })
const kv = (key: string, create: number, mod = create): WireKv => ({
  key: b64(key),
  create_revision: String(create),
  mod_revision: String(mod),
})
const ranges = (...lists: WireKv[][]): WireTxnResponse['responses'] =>
  lists.map((kvs) => ({ response_range: kvs.length > 0 ? { kvs } : {} }))

describe('lockStart', () => {
  it('holds the lock at once when my new key is the oldest', () => {
    const txn = { header: header(5), succeeded: true, responses: ranges([], [kv('l/a', 5)]) }
    expect(lockStart(txn)).toMatchObject({ myRev: 5, acquired: true })
  })

  it('waits when an older key exists', () => {
    const txn = { header: header(6), succeeded: true, responses: ranges([], [kv('l/a', 5)]) }
    expect(lockStart(txn)).toMatchObject({ myRev: 6, acquired: false })
  })

  it('keeps the place of a key that already existed (same lease locks twice)', () => {
    const txn = {
      header: header(9),
      responses: ranges([kv('l/b', 6)], [kv('l/a', 5)]),
    }
    expect(lockStart(txn)).toMatchObject({ myRev: 6, acquired: false })
  })
})

describe('campaignStart', () => {
  it('reads the existing key of a session that campaigns again', () => {
    const existing = { ...kv('e/a', 4), value: b64('v1') }
    const txn = { header: header(9), responses: ranges([existing]) }
    expect(campaignStart(txn)).toEqual({ myRev: 4, existing })
  })
})

describe('waiterStep', () => {
  const mine = kv('l/c', 7)
  it('acquires when no older key is left and mine is unchanged', () => {
    const txn = { header: header(12), responses: ranges([], [mine]) }
    expect(waiterStep(txn, 7)).toEqual({ kind: 'acquired' })
  })

  it('waits for its predecessor, from the revision of the read', () => {
    const txn = { header: header(12), responses: ranges([kv('l/b', 6)], [mine]) }
    expect(waiterStep(txn, 7)).toEqual({ kind: 'wait', key: b64('l/b'), fromRevision: 12 })
  })

  it.each([
    ['gone', []],
    ['recreated', [kv('l/c', 11)]],
  ])('is lost when my key is %s', (_, own) => {
    const txn = { header: header(12), responses: ranges([], own) }
    expect(waiterStep(txn, 7)).toEqual({ kind: 'lost' })
  })
})

describe('LeaderTracker', () => {
  const put = (key: string, create: number, mod = create): WireEvent => ({
    kv: kv(key, create, mod),
  })
  const del = (key: string, rev: number): WireEvent => ({
    type: 'DELETE',
    kv: { key: b64(key), mod_revision: String(rev) },
  })

  it('takes the first key put when there is no leader', () => {
    const t = new LeaderTracker(undefined)
    expect(t.step(3, [put('e/a', 3)])).toEqual({ kind: 'emit', kv: kv('e/a', 3), revision: 3 })
  })

  it('ignores other candidates, follows the leader key, looks up on its delete', () => {
    const t = new LeaderTracker(kv('e/a', 3))
    expect(t.step(4, [put('e/b', 4)])).toEqual({ kind: 'none' })
    expect(t.step(5, [put('e/a', 3, 5)])).toMatchObject({ kind: 'emit', revision: 5 })
    expect(t.step(6, [del('e/a', 6)])).toEqual({ kind: 'lookup', revision: 6 })
    expect(t.current()).toBeUndefined()
    t.found(kv('e/b', 4))
    expect(t.step(7, [del('e/b', 7)])).toEqual({ kind: 'lookup', revision: 7 })
  })

  it('groups events by revision, in order', () => {
    const evs = [put('e/a', 3), put('e/b', 3), del('e/a', 5)]
    expect(byRevision(evs).map(([rev, e]) => [rev, e.length])).toEqual([
      [3, 2],
      [5, 1],
    ])
  })
})
