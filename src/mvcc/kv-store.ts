// The MVCC key-value store, modelled on etcd 3.4's mvcc package (kvstore_txn.go) and the KV part
// of its applier (etcdserver/apply.go). It runs synchronously over the `Sql` interface; the member
// calls it while applying committed Raft entries, inside one `transactionSync` that also records
// the applied index (setAppliedIndex), so an entry is applied exactly once.
//
// Revisions: the store starts at revision 1 (as etcd). Every write transaction that changes
// something takes the next main revision; its changes are numbered sub = 0, 1, 2 … A put keeps
// the key's create_revision and bumps its version; a delete writes a tombstone and the next put
// starts a new generation (version 1, new create_revision).
//
// Invariant: compactRevision <= currentRevision; every key in mvcc_latest has its row in
// mvcc_history; mvcc_history holds no row with main > currentRevision.

import {
  CompactedError,
  FutureRevError,
  KeyNotFoundError,
  LeaseNotFoundError,
  ResponseTooLargeError,
  assert,
} from './errors.ts'
import { Crc32c, marshalKeyValue, revisionBytes } from './hash.ts'
import { goSort } from './go-sort.ts'
import { compareBytes, keySpan, spanCondition } from './key-range.ts'
import type { KeySpan } from './key-range.ts'
import type { Sql, SqlRow, SqlValue } from './sql.ts'
import { toBigInt, toBytes, toNum } from './sql.ts'
import { evaluateTxn } from './txn.ts'
import type {
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  MvccEvent,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from './types.ts'
import { rangeRequest, SortOrder, SortTarget } from './types.ts'

/** Tuning and collaborators of a store. */
export interface KvStoreOptions {
  /**
   * Whether a lease exists (the lessor; a later issue). Default: no lease exists, which is what
   * etcd answers when no lease was granted: a put with a lease fails with "lease not found".
   */
  leaseExists?: (id: bigint) => boolean
  /**
   * Cap on the bytes of one range reply: keys + values + 32 per kv (default 64 MiB). The rows a
   * range reads to build it (limit + 1, a sort's working set) are capped at twice this.
   */
  maxRangeResponseBytes?: number
}

/** HashKV's answer (etcd maintenance HashKV). */
export interface HashKvResult {
  hash: number
  /** The store's current revision when hashed. */
  currentRevision: number
  /** The store's compacted revision when hashed. */
  compactRevision: number
}

const DEFAULT_MAX_RANGE_RESPONSE_BYTES = 64 * 1024 * 1024
/** Per-kv overhead counted against the response cap (revisions, framing). */
const KV_OVERHEAD_BYTES = 32
const HASH_PAGE_ROWS = 1000
const COMPARE_PAGE_ROWS = 256

const KV_COLUMNS = 'key, create_revision, main, version, lease'

/**
 * The read view a range runs against: the revision it sees as "now". Invariant: a view is always
 * the newest state in SQL (the current revision, or a write transaction's own revision).
 */
export interface ReadView {
  /** The revision reads without an explicit revision see. */
  rev: number
}

/**
 * A write in progress: one main revision (`beginRev + 1`), its changes counted in `sub`.
 * Invariant: every row written carries main = beginRev + 1 and a distinct sub.
 */
export interface WriteTxn {
  beginRev: number
  sub: number
}

/** The MVCC store over SQLite. Construct it over a database that has migration 0002 applied. */
export class KvStore {
  private readonly leaseExists: (id: bigint) => boolean
  private readonly maxRangeResponseBytes: number
  private readonly sql: Sql
  private metaCache: Map<string, string> | undefined
  private dirtyMeta: Set<string> | undefined

  constructor(sql: Sql, options: KvStoreOptions = {}) {
    this.sql = blobsAsArrayBuffers(sql)
    this.leaseExists = options.leaseExists ?? (() => false)
    this.maxRangeResponseBytes = options.maxRangeResponseBytes ?? DEFAULT_MAX_RANGE_RESPONSE_BYTES
  }

  // ---- meta ----------------------------------------------------------------------------------

  /** The revision of the last write transaction (1 for an empty store, as etcd). */
  currentRevision(): number {
    return Number(this.meta('current_revision'))
  }

  /** The revision the store was last compacted at (-1 if never, as etcd). */
  compactedRevision(): number {
    return Number(this.meta('compact_revision'))
  }

  /** The Raft index of the last entry applied to this store. */
  appliedIndex(): number {
    return Number(this.meta('applied_index'))
  }

  /** Records the applied index; call it in the same transaction as the apply. */
  setAppliedIndex(index: number): void {
    assert(Number.isSafeInteger(index) && index >= 0, `bad applied index ${index}`)
    this.setMeta('applied_index', String(index))
  }

  /**
   * Keeps meta values (revisions, applied index) in memory from now on: they are read several
   * times per write, and a SQL query each was ~5 % of a put's CPU. The owner then must call
   * forgetCachedMeta whenever mvcc_meta may have changed behind the store's back: a
   * transaction the store wrote in rolled back, or the table was replaced (snapshot restore).
   */
  cacheMeta(): void {
    this.metaCache ??= new Map()
  }

  forgetCachedMeta(): void {
    this.metaCache?.clear()
    this.dirtyMeta = undefined
  }

  /**
   * With meta cached: hold meta writes in memory until flushMeta (the owner calls it before its
   * transaction commits), so a batch of writes updates each meta row once, not once per write.
   */
  deferMetaWrites(): void {
    if (this.metaCache) this.dirtyMeta ??= new Set()
  }

  /** The cached meta state, to go back to if a nested transaction rolls back. */
  metaCheckpoint(): { cache: Map<string, string>; dirty: Set<string> | undefined } | undefined {
    if (!this.metaCache) return undefined
    return { cache: new Map(this.metaCache), dirty: this.dirtyMeta && new Set(this.dirtyMeta) }
  }

  /** Back to a checkpoint: what a rolled-back nested transaction cached is forgotten. */
  rollbackMeta(checkpoint: ReturnType<KvStore['metaCheckpoint']>): void {
    if (!checkpoint) return this.forgetCachedMeta()
    this.metaCache = checkpoint.cache
    this.dirtyMeta = checkpoint.dirty
  }

  /** Writes the meta values held back since deferMetaWrites, and stops holding them back. */
  flushMeta(): void {
    const dirty = this.dirtyMeta
    this.dirtyMeta = undefined
    for (const name of dirty ?? []) this.setMeta(name, this.metaCache!.get(name)!)
  }

  private meta(name: string): string {
    const cached = this.metaCache?.get(name)
    if (cached !== undefined) return cached
    const row = this.sql.exec('SELECT value FROM mvcc_meta WHERE name = ?', name).toArray()[0]
    assert(row !== undefined, `mvcc_meta has no ${name}: is migration 0002 applied?`)
    const value = String(row['value'])
    this.metaCache?.set(name, value)
    return value
  }

  private setMeta(name: string, value: string): void {
    if (this.dirtyMeta) {
      this.metaCache!.set(name, value)
      this.dirtyMeta.add(name)
      return
    }
    this.sql.exec('UPDATE mvcc_meta SET value = ? WHERE name = ?', value, name)
    this.metaCache?.set(name, value)
  }

  // ---- KV operations -------------------------------------------------------------------------

  /** Range (read-only). Throws FutureRevError, CompactedError, ResponseTooLargeError. */
  range(req: RangeRequest): RangeResponse {
    return this.rangeIn({ rev: this.currentRevision() }, req)
  }

  /** Put. Throws LeaseNotFoundError, KeyNotFoundError (ignore_value/ignore_lease on no key). */
  put(req: PutRequest): PutResponse {
    if (req.lease !== 0n && !this.leaseExists(req.lease)) throw new LeaseNotFoundError(req.lease)
    const txn = this.beginWrite()
    const resp = this.putIn(txn, req)
    this.endWrite(txn)
    return resp
  }

  /** DeleteRange. `deleted` = 0 leaves the revision unchanged. */
  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    const txn = this.beginWrite()
    const resp = this.deleteRangeIn(txn, req)
    this.endWrite(txn)
    return resp
  }

  /**
   * Txn: compares (all of them, nested ones included, evaluated against the state before the
   * txn, as etcd does), then the chosen branch's ops, atomically at one revision. Throws before
   * writing anything: FutureRevError / CompactedError for a range op's revision, KeyNotFoundError,
   * LeaseNotFoundError.
   */
  txn(req: TxnRequest): TxnResponse {
    return evaluateTxn(this, req)
  }

  /**
   * Compact: forget every version older than `revision` except each key's latest one, so reads
   * at `revision` or later answer as before and earlier reads fail with CompactedError.
   * Throws CompactedError when `revision` <= the compacted revision, FutureRevError above the
   * current one. Compaction is done at once (`physical` is accepted for the API's sake).
   */
  compact(revision: number, _physical = false): CompactionResponse {
    const compactRev = this.compactedRevision()
    const currentRev = this.currentRevision()
    if (revision <= compactRev) throw new CompactedError()
    if (revision > currentRev) throw new FutureRevError()
    this.setMeta('compact_revision', String(revision))
    this.sql.exec(
      `DELETE FROM mvcc_history AS h WHERE h.main <= ?1 AND (h.tombstone = 1 OR EXISTS (
         SELECT 1 FROM mvcc_history AS n WHERE n.key = h.key AND n.main <= ?1
           AND (n.main > h.main OR (n.main = h.main AND n.sub > h.sub))))`,
      revision,
    )
    return { header: { revision: currentRev } }
  }

  /**
   * etcd's HashKV at `revision` (0 = current): CRC-32C over every stored revision up to it.
   * Revisions at or below the compacted one count only when they are still their key's latest
   * live version at `revision`, exactly as etcd's HashByRev, so every member — and etcd itself —
   * gets the same hash for the same history. Throws CompactedError / FutureRevError.
   */
  hashKV(revision = 0): HashKvResult {
    const compactRevision = this.compactedRevision()
    const currentRevision = this.currentRevision()
    if (revision > 0 && revision <= compactRevision) throw new CompactedError()
    if (revision > currentRevision) throw new FutureRevError()
    const rev = revision === 0 ? currentRevision : revision
    const crc = new Crc32c().update(new TextEncoder().encode('key'))
    let after = { main: -1, sub: -1 }
    for (;;) {
      // Rows at or below the compacted revision count only if still their key's live version.
      const rows = this.sql
        .exec(
          `SELECT ${KV_COLUMNS}, sub, tombstone, value FROM mvcc_history AS h
           WHERE main <= ?1 AND (main > ?2 OR (main = ?2 AND sub > ?3))
             AND (main > ?4 OR (tombstone = 0 AND NOT EXISTS (
               SELECT 1 FROM mvcc_history AS n WHERE n.key = h.key AND n.main <= ?1
                 AND (n.main > h.main OR (n.main = h.main AND n.sub > h.sub)))))
           ORDER BY main, sub LIMIT ${HASH_PAGE_ROWS}`,
          rev,
          after.main,
          after.sub,
          compactRevision,
        )
        .toArray()
      for (const row of rows) {
        const main = toNum(row['main'])
        const sub = toNum(row['sub'])
        const tombstone = toNum(row['tombstone']) === 1
        const kv = rowToKeyValue(row, true)
        crc.update(revisionBytes(main, sub, tombstone))
        crc.update(marshalKeyValue(tombstone ? zeroKv(kv.key) : kv))
      }
      const last = rows[rows.length - 1]
      if (rows.length < HASH_PAGE_ROWS || last === undefined) break
      after = { main: toNum(last['main']), sub: toNum(last['sub']) }
    }
    return { hash: crc.digest(), currentRevision, compactRevision }
  }

  /**
   * Watch replay: the changes at revision >= `startRev` to keys in (key, rangeEnd) — same span
   * rules as Range — in revision order, about `limit` of them (0 = no limit): a revision is never
   * split, so the last one is completed past `limit`. Each carries the key's previous version
   * when history still has it. Throws CompactedError when `startRev` is below the compacted
   * revision (etcd cancels such a watch with ErrCompacted).
   */
  eventsSince(startRev: number, key: Uint8Array, rangeEnd: Uint8Array, limit = 0): MvccEvent[] {
    if (startRev < this.compactedRevision()) throw new CompactedError()
    const cond = spanCondition(keySpan(key, rangeEnd), 'key')
    const select = `SELECT ${KV_COLUMNS}, sub, tombstone, value FROM mvcc_history WHERE ${cond.where}`
    const rows = this.sql
      .exec(
        `${select} AND main >= ? ORDER BY main, sub ${limit > 0 ? `LIMIT ${limit}` : ''}`,
        ...cond.bindings,
        Math.max(startRev, 0),
      )
      .toArray()
    const last = rows[rows.length - 1]
    if (limit > 0 && rows.length === limit && last !== undefined) {
      // Never split a revision: a watcher sees all of a txn's changes or none (etcd's atomicity).
      const rest = this.sql
        .exec(
          `${select} AND main = ? AND sub > ? ORDER BY sub`,
          ...cond.bindings,
          toNum(last['main']),
          toNum(last['sub']),
        )
        .toArray()
      rows.push(...rest)
    }
    return rows.map((row): MvccEvent => {
      const tombstone = toNum(row['tombstone']) === 1
      const main = toNum(row['main'])
      const sub = toNum(row['sub'])
      const kv = tombstone
        ? { ...zeroKv(toBytes(row['key'])), modRevision: main }
        : rowToKeyValue(row, true)
      const prevKv = this.previousVersion(kv.key, main, sub)
      return { type: tombstone ? 'DELETE' : 'PUT', kv, prevKv, sub }
    })
  }

  private previousVersion(key: Uint8Array, main: number, sub: number): KeyValue | null {
    const row = this.sql
      .exec(
        `SELECT ${KV_COLUMNS}, tombstone, value FROM mvcc_history
         WHERE key = ? AND (main < ? OR (main = ? AND sub < ?)) ORDER BY main DESC, sub DESC LIMIT 1`,
        key,
        main,
        main,
        sub,
      )
      .toArray()[0]
    if (row === undefined || toNum(row['tombstone']) === 1) return null
    return rowToKeyValue(row, true)
  }

  /**
   * A deterministic text image of the whole store (meta, history, latest), for tests that prove
   * two members hold byte-identical state.
   */
  dump(): string {
    const hex = (v: SqlValue | undefined): string =>
      [...toBytes(v)].map((b) => b.toString(16).padStart(2, '0')).join('')
    const lines: string[] = []
    for (const row of this.sql.exec('SELECT name, value FROM mvcc_meta ORDER BY name').toArray()) {
      lines.push(`meta ${String(row['name'])}=${String(row['value'])}`)
    }
    const history = this.sql.exec('SELECT * FROM mvcc_history ORDER BY main, sub, key').toArray()
    for (const r of history) {
      lines.push(
        `history ${hex(r['key'])} ${String(r['main'])}.${String(r['sub'])} t=${String(r['tombstone'])} ` +
          `c=${String(r['create_revision'])} v=${String(r['version'])} l=${String(r['lease'])} ${hex(r['value'])}`,
      )
    }
    for (const r of this.sql.exec('SELECT * FROM mvcc_latest ORDER BY key').toArray()) {
      lines.push(
        `latest ${hex(r['key'])} ${String(r['main'])}.${String(r['sub'])} ` +
          `c=${String(r['create_revision'])} v=${String(r['version'])} l=${String(r['lease'])}`,
      )
    }
    return lines.join('\n')
  }

  // ---- building blocks (used by txn.ts) ------------------------------------------------------

  /** Whether `id` names a live lease. */
  hasLease(id: bigint): boolean {
    return this.leaseExists(id)
  }

  /** Starts a write transaction at the current revision. */
  beginWrite(): WriteTxn {
    return { beginRev: this.currentRevision(), sub: 0 }
  }

  /** Ends a write transaction: the revision moves only if something changed. */
  endWrite(txn: WriteTxn): void {
    if (txn.sub > 0) this.setMeta('current_revision', String(txn.beginRev + 1))
  }

  /** The read view inside a write transaction: its own changes are visible once made. */
  viewOf(txn: WriteTxn): ReadView {
    return { rev: txn.sub > 0 ? txn.beginRev + 1 : txn.beginRev }
  }

  /**
   * etcd's applierV3backend.Range over a read view: fetch (with limit + 1 to learn `more`),
   * filter by min/max mod/create revision, sort, truncate. `count` is the number of keys in the
   * span at the revision, before limit and filters.
   */
  rangeIn(view: ReadView, req: RangeRequest): RangeResponse {
    let rev = req.revision
    if (rev > view.rev) throw new FutureRevError()
    if (rev <= 0) rev = view.rev
    if (rev < this.compactedRevision()) throw new CompactedError()
    const span = keySpan(req.key, req.rangeEnd)
    const header = { revision: view.rev }
    // One key without filters: the fetch itself says whether it exists, so the count query
    // (a second statement on the commonest read) is not needed.
    const single =
      span.kind === 'single' &&
      !req.countOnly &&
      req.maxModRevision === 0 &&
      req.minModRevision === 0 &&
      req.maxCreateRevision === 0 &&
      req.minCreateRevision === 0
    let count = single ? 1 : this.countAt(span, rev, rev === view.rev)
    if (count === 0 || req.countOnly) return { header, kvs: [], more: false, count }
    const kvs = this.fetchAt(span, rev, rev === view.rev, req, count)
    if (single) count = kvs.length
    let more = false
    if (req.limit > 0 && kvs.length > req.limit) {
      kvs.length = req.limit
      more = true
    }
    if (req.keysOnly) for (const kv of kvs) kv.value = new Uint8Array(0)
    const replyBytes = kvs.reduce((n, kv) => n + kvBytes(kv), 0)
    if (replyBytes > this.maxRangeResponseBytes) {
      throw new ResponseTooLargeError(replyBytes, this.maxRangeResponseBytes)
    }
    return { header, kvs, more, count }
  }

  /**
   * Whether every live kv in (key, rangeEnd) satisfies `test`, reading the span in pages so a
   * compare over a large span needs no reply-sized buffer (txn compares; etcd reads them whole).
   * Returns null when the span is empty. The view is the newest state (see ReadView).
   */
  everyLiveKv(
    key: Uint8Array,
    rangeEnd: Uint8Array,
    test: (kv: KeyValue) => boolean,
  ): boolean | null {
    const cond = spanCondition(keySpan(key, rangeEnd), 'l.key')
    let after: Uint8Array | null = null
    let seen = false
    for (;;) {
      const page: SqlRow[] = this.sql
        .exec(
          `SELECT h.key, h.create_revision, h.main, h.version, h.lease, h.value
           FROM mvcc_latest AS l JOIN mvcc_history AS h ON h.key = l.key AND h.main = l.main AND h.sub = l.sub
           WHERE ${cond.where} ${after === null ? '' : 'AND l.key > ?'}
           ORDER BY l.key LIMIT ${COMPARE_PAGE_ROWS}`,
          ...cond.bindings,
          ...(after === null ? [] : [after]),
        )
        .toArray()
      for (const row of page) {
        seen = true
        if (!test(rowToKeyValue(row, true))) return false
      }
      const last = page[page.length - 1]
      if (page.length < COMPARE_PAGE_ROWS || last === undefined) return seen ? true : null
      after = toBytes(last['key'])
    }
  }

  /** The live version of one key in the view (put's ignore flags and prev_kv, txn checks). */
  getIn(view: ReadView, key: Uint8Array): KeyValue | null {
    const span: KeySpan = { kind: 'single', key }
    return this.fetchAt(span, view.rev, true, rangeRequest({ key }))[0] ?? null
  }

  /** etcd's applierV3backend.Put inside a write transaction (checks already done by callers). */
  putIn(txn: WriteTxn, req: PutRequest): PutResponse {
    let value = req.value
    let lease = req.lease
    let prev: KeyValue | null = null
    if (req.ignoreValue || req.ignoreLease || req.prevKv) {
      prev = this.getIn(this.viewOf(txn), req.key)
    }
    if (req.ignoreValue || req.ignoreLease) {
      if (prev === null) throw new KeyNotFoundError()
      if (req.ignoreValue) value = prev.value
      if (req.ignoreLease) lease = prev.lease
    }
    const rev = txn.beginRev + 1
    const sub = txn.sub++
    const leaseText = lease.toString()
    // One statement finds the key's creation revision and next version and records the new
    // latest version: a new key (or one deleted since: no row) is created at `rev`, version 1.
    const latest = this.sql
      .exec(
        `INSERT INTO mvcc_latest (key, main, sub, create_revision, version, lease) VALUES (?, ?, ?, ?, 1, ?)
         ON CONFLICT (key) DO UPDATE SET main = excluded.main, sub = excluded.sub,
           version = mvcc_latest.version + 1, lease = excluded.lease
         RETURNING create_revision, version`,
        req.key,
        rev,
        sub,
        rev,
        leaseText,
      )
      .toArray()[0]
    assert(latest !== undefined, 'mvcc_latest upsert returned no row')
    this.sql.exec(
      `INSERT INTO mvcc_history (key, main, sub, tombstone, create_revision, version, lease, value)
       VALUES (?, ?, ?, 0, ?, ?, ?, ?)`,
      req.key,
      rev,
      sub,
      toNum(latest['create_revision']),
      toNum(latest['version']),
      leaseText,
      value,
    )
    return { header: { revision: rev }, prevKv: req.prevKv ? prev : null }
  }

  /** etcd's applierV3backend.DeleteRange inside a write transaction. */
  deleteRangeIn(txn: WriteTxn, req: DeleteRangeRequest): DeleteRangeResponse {
    const span = keySpan(req.key, req.rangeEnd)
    const prevKvs = req.prevKv
      ? this.fetchAt(span, this.viewOf(txn).rev, true, rangeRequest({ key: req.key }))
      : []
    const cond = spanCondition(span, 'key')
    const keys = this.sql
      .exec(`SELECT key FROM mvcc_latest WHERE ${cond.where} ORDER BY key`, ...cond.bindings)
      .toArray()
      .map((r) => toBytes(r['key']))
    const rev = txn.beginRev + 1
    for (const key of keys) {
      this.sql.exec(
        `INSERT INTO mvcc_history (key, main, sub, tombstone, create_revision, version, lease, value)
         VALUES (?, ?, ?, 1, 0, 0, '0', x'')`,
        key,
        rev,
        txn.sub++,
      )
      this.sql.exec('DELETE FROM mvcc_latest WHERE key = ?', key)
    }
    const revision = keys.length > 0 || txn.sub > 0 ? rev : txn.beginRev
    return { header: { revision }, deleted: keys.length, prevKvs }
  }

  // ---- queries -------------------------------------------------------------------------------

  /** Number of live keys in the span at `rev` (`isLatest`: rev is the newest revision). */
  private countAt(span: KeySpan, rev: number, isLatest: boolean): number {
    if (isLatest) {
      const cond = spanCondition(span, 'key')
      const row = this.sql
        .exec(`SELECT count(*) AS n FROM mvcc_latest WHERE ${cond.where}`, ...cond.bindings)
        .one()
      return toNum(row['n'])
    }
    const q = historicalSource(span, rev)
    return toNum(this.sql.exec(`SELECT count(*) AS n FROM ${q.from}`, ...q.bindings).one()['n'])
  }

  /**
   * The kvs a range returns before truncation to `limit`: filters, order and the limit + 1 that
   * tells `more` are pushed into SQL, so the work done grows with the reply, not the store.
   */
  private fetchAt(
    span: KeySpan,
    rev: number,
    isLatest: boolean,
    req: RangeRequest,
    count = 0,
  ): KeyValue[] {
    const sort = effectiveSort(req)
    const filtered =
      req.maxModRevision !== 0 ||
      req.minModRevision !== 0 ||
      req.maxCreateRevision !== 0 ||
      req.minCreateRevision !== 0
    // etcd fetches limit + 1 kvs in key order unless the request names a sort order or a filter,
    // and sorts only what it fetched: with sort_order NONE and a non-KEY target, the first
    // limit + 1 keys are sorted (etcd's applierV3backend.Range, kept as is).
    const prefetch = req.sortOrder === SortOrder.NONE && !filtered && req.limit > 0
    const byValue = sort !== null && sort.column !== 'h.key'
    // etcd sorts with Go's unstable sort.Sort; to return ties in etcd's order we sort as Go does,
    // over the fetched kvs in key order, when there are few enough to hold.
    const exact = byValue && (prefetch || count <= EXACT_SORT_MAX_KEYS)
    const limit =
      req.limit > 0 && (!exact || prefetch) ? Math.min(req.limit + 1, Number.MAX_SAFE_INTEGER) : 0
    // keys_only at the current revision needs no value: read mvcc_latest alone.
    const valueless = isLatest && req.keysOnly && req.sortTarget !== SortTarget.VALUE
    const source = valueless
      ? latestKeysSource(span)
      : isLatest
        ? latestSource(span)
        : historicalSource(span, rev)
    const filters: string[] = []
    const bindings: SqlValue[] = [...source.bindings]
    const add = (cond: string, v: number): void => {
      filters.push(cond)
      bindings.push(v)
    }
    if (req.maxModRevision !== 0) add('h.main <= ?', req.maxModRevision)
    if (req.minModRevision !== 0) add('h.main >= ?', req.minModRevision)
    if (req.maxCreateRevision !== 0) add('h.create_revision <= ?', req.maxCreateRevision)
    if (req.minCreateRevision !== 0) add('h.create_revision >= ?', req.minCreateRevision)
    const rows = this.sql.exec(
      `SELECT h.key, h.create_revision, h.main, h.version, h.lease, ${valueless ? "x''" : 'h.value'} AS value
       FROM ${source.from}
       ${filters.length > 0 ? `AND ${filters.join(' AND ')}` : ''}
       ORDER BY ${exact ? 'h.key ASC' : orderBy(sort)} ${limit > 0 ? `LIMIT ${limit}` : ''}`,
      ...bindings,
    )
    const kvs: KeyValue[] = []
    let bytes = 0
    for (const row of rows.toArray()) {
      const kv = rowToKeyValue(row, true)
      // The working set may exceed the reply (limit + 1, a sort over the span) but stays bounded.
      bytes += kvBytes(kv)
      if (bytes > 2 * this.maxRangeResponseBytes) {
        throw new ResponseTooLargeError(bytes, this.maxRangeResponseBytes)
      }
      kvs.push(kv)
    }
    if (exact && sort !== null) goSort(kvs, goLess(req.sortTarget, sort.descending))
    return kvs
  }
}

/**
 * Durable Object SQL binds BLOBs from ArrayBuffer (SqlStorageValue); pass keys and values as
 * exact ArrayBuffers whatever view the caller holds.
 */
function blobsAsArrayBuffers(sql: Sql): Sql {
  return {
    exec: (query, ...bindings) =>
      sql.exec(query, ...bindings.map((b) => (b instanceof Uint8Array ? exactBuffer(b) : b))),
  }
}

/** The bytes of a view as an ArrayBuffer: its own buffer when it spans all of it (no copy). */
function exactBuffer(b: Uint8Array): ArrayBuffer {
  if (
    b.byteOffset === 0 &&
    b.byteLength === b.buffer.byteLength &&
    b.buffer instanceof ArrayBuffer
  ) {
    return b.buffer
  }
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer
}

/** Rows of the live keys in a span, `h` being their mvcc_history row (carrying the value). */
function latestSource(span: KeySpan): { from: string; bindings: SqlValue[] } {
  const cond = spanCondition(span, 'l.key')
  return {
    from: `mvcc_latest AS l JOIN mvcc_history AS h ON h.key = l.key AND h.main = l.main AND h.sub = l.sub
           WHERE ${cond.where}`,
    bindings: cond.bindings,
  }
}

/** The live keys of a span without their values (`h` is mvcc_latest itself). */
function latestKeysSource(span: KeySpan): { from: string; bindings: SqlValue[] } {
  const cond = spanCondition(span, 'h.key')
  return { from: `mvcc_latest AS h WHERE ${cond.where}`, bindings: cond.bindings }
}

/** Rows of the keys live at `rev` in a span: each key's newest row <= rev, if not a tombstone. */
function historicalSource(span: KeySpan, rev: number): { from: string; bindings: SqlValue[] } {
  const cond = spanCondition(span, 'h.key')
  return {
    from: `mvcc_history AS h WHERE ${cond.where} AND h.main <= ? AND h.tombstone = 0
           AND NOT EXISTS (SELECT 1 FROM mvcc_history AS n WHERE n.key = h.key AND n.main <= ?
             AND (n.main > h.main OR (n.main = h.main AND n.sub > h.sub)))`,
    bindings: [...cond.bindings, rev, rev],
  }
}

/** Above this many keys in a span, a sorted range orders ties by key instead of as Go does. */
export const EXACT_SORT_MAX_KEYS = 10_000

/**
 * etcd's sort choice: a non-KEY target with order NONE sorts ASCEND; an unknown order or target
 * leaves key order (null).
 */
function effectiveSort(req: RangeRequest): { column: string; descending: boolean } | null {
  let order = req.sortOrder
  if (req.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND
  if (order !== SortOrder.ASCEND && order !== SortOrder.DESCEND) return null
  const column: Record<number, string> = {
    [SortTarget.KEY]: 'h.key',
    [SortTarget.VERSION]: 'h.version',
    [SortTarget.CREATE]: 'h.create_revision',
    [SortTarget.MOD]: 'h.main',
    [SortTarget.VALUE]: 'h.value',
  }
  const col = column[req.sortTarget]
  return col === undefined ? null : { column: col, descending: order === SortOrder.DESCEND }
}

/** SQL ORDER BY for a sort (ties by key: the stable order, used for very large spans). */
function orderBy(sort: { column: string; descending: boolean } | null): string {
  if (sort === null) return 'h.key ASC'
  const dir = sort.descending ? 'DESC' : 'ASC'
  return sort.column === 'h.key' ? `h.key ${dir}` : `${sort.column} ${dir}, h.key ASC`
}

/** etcd's kvSortBy* Less for a target, reversed (sort.Reverse) for DESCEND. */
function goLess(target: number, descending: boolean): (a: KeyValue, b: KeyValue) => boolean {
  const asc = (a: KeyValue, b: KeyValue): boolean => {
    switch (target) {
      case SortTarget.VERSION:
        return a.version < b.version
      case SortTarget.CREATE:
        return a.createRevision < b.createRevision
      case SortTarget.MOD:
        return a.modRevision < b.modRevision
      case SortTarget.VALUE:
        return compareBytes(a.value, b.value) < 0
      default:
        return compareBytes(a.key, b.key) < 0
    }
  }
  return descending ? (a, b) => asc(b, a) : asc
}

function rowToKeyValue(row: SqlRow, withValue: boolean): KeyValue {
  return {
    key: toBytes(row['key']),
    createRevision: toNum(row['create_revision']),
    modRevision: toNum(row['main']),
    version: toNum(row['version']),
    value: withValue ? toBytes(row['value']) : new Uint8Array(0),
    lease: toBigInt(row['lease']),
  }
}

function kvBytes(kv: KeyValue): number {
  return kv.key.length + kv.value.length + KV_OVERHEAD_BYTES
}

function zeroKv(key: Uint8Array): KeyValue {
  return { key, createRevision: 0, modRevision: 0, version: 0, value: new Uint8Array(0), lease: 0n }
}
