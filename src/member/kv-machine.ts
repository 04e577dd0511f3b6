// The member's state machine: the MVCC store behind etcd's KV API. Committed entries carry the
// client's request as etcd's JSON (route + body) with a request id; applying one decodes it,
// runs it on the store and encodes etcd's answer, all deterministic, so every member reaches
// the same state. The answer is kept by request id so a retried proposal applies at most once.
import { EtcdError, toHttpError } from '../api/errors.ts'
import { MvccError } from '../mvcc/errors.ts'
import {
  decodeKvRequest,
  encodeKvResponse,
  executeKv,
  needsConsensus,
  validateKvRequest,
  type HeaderContext,
  type KvRequest,
  type KvRoute,
} from '../api/kv-service.ts'
import { KvStore } from '../mvcc/kv-store.ts'
import { LeaseClock } from '../mvcc/lease-clock.ts'
import { LeaseStore } from '../mvcc/lease-store.ts'
import {
  executeLease,
  isLeaseRoute,
  isLeaseWrite,
  type LeaseEntryContext,
  type LeaseRoute,
} from '../api/lease-service.ts'
import type { Sql } from '../mvcc/sql.ts'
import type { ConfChange, Entry } from '../raft/index.ts'
import { AppliedRequestIds } from './applied-requests.ts'
import { applyMemberChange, type Membership } from './membership.ts'
import { exportState, importState } from './kv-snapshot.ts'
import { applyRestore, isRestoreEntry, type RestoreEntry } from './restore.ts'
import type { ApplyResult, StateMachine } from './state-machine.ts'

export type { KvRoute, LeaseRoute }

/**
 * A route of a replicated entry or a read: a KV request, a lease request (lease-service.ts), or
 * one an extra handler serves (e.g. 'alarm').
 */
export type MachineRoute = KvRoute | LeaseRoute | 'alarm'

/** An answer ready for HTTP: etcd's status and JSON body. */
export interface KvReply {
  status: number
  body: string
}

/** What a KV entry's data holds. */
interface KvEntry {
  id: string
  route: MachineRoute
  body: string
  /** Lease entries: the leader's lease time (and grant ID), see src/mvcc/lease-clock.ts. */
  lease?: LeaseEntryContext
}

/** Applied-request answers older than this many entries are forgotten. */
const REQUEST_MEMORY_ENTRIES = 10_000

/** Identity and limits the machine needs to answer as etcd. */
export interface KvMachineOptions {
  clusterId: string
  memberId: string
  raftTerm: () => number
  maxTxnOps: number
  maxRequestBytes: number
  /** A nested transaction (Durable Object `transactionSync` nests; it rolls back on throw). */
  transaction: <T>(fn: () => T) => T
  /** The store's cap on one range reply (default: the store's). */
  maxRangeResponseBytes?: number
  /** Replicated entries that are not KV requests, by route: body and raft index → answer. */
  routes?: Partial<Record<MachineRoute, (body: string, index: number) => KvReply>>
  /** A KV write refused at apply (etcd's capped/corrupt appliers while an alarm is raised). */
  refuse?: (request: KvRequest) => EtcdError | null
  /** A lease grant refused at apply (the same appliers refuse grants). */
  refuseLeaseGrant?: () => EtcdError | null
  /** The replicated membership table conf changes update (absent: conf changes are skipped). */
  membership?: Membership
  /** etcd's minimum lease TTL in seconds (minLeaseTtlSeconds). */
  minLeaseTtlSeconds: number
  /** This member's local clock (the shell's Date.now), for the lease clock only. */
  localNowMs: () => number
}

/** Carries a failed request's answer out of the transaction it rolls back. */
class FailedRequest extends Error {
  constructor(readonly reply: KvReply) {
    super('request failed')
  }
}

/** The replicated KV state machine of a member. */
export class KvMachine implements StateMachine {
  readonly store: KvStore
  readonly leases: LeaseStore
  /** This member's view of lease time, learned from applied lease entries. */
  readonly leaseClock = new LeaseClock()
  private readonly requestIds: AppliedRequestIds

  constructor(
    private readonly sql: Sql,
    private readonly options: KvMachineOptions,
  ) {
    this.store = new KvStore(sql, {
      leaseExists: (id) => this.leases.exists(id),
      ...(options.maxRangeResponseBytes === undefined
        ? {}
        : { maxRangeResponseBytes: options.maxRangeResponseBytes }),
    })
    // Safe: every rollback of a transaction the store wrote in calls forgetCachedMeta.
    this.store.cacheMeta()
    this.requestIds = new AppliedRequestIds(sql)
    this.leases = new LeaseStore(sql, this.store)
    this.loadLeaseClock()
  }

  /** After a restart or a snapshot: the lease clock starts from the last lease entry applied. */
  private loadLeaseClock(): void {
    const clock = this.leases.clock()
    if (clock !== null) this.leaseClock.observe(clock.term, clock.nowMs, this.options.localNowMs())
  }

  /** The data of the entry that proposes a request (lease entries carry the leader's context). */
  static entry(
    requestId: string,
    route: MachineRoute,
    body: string,
    lease?: LeaseEntryContext,
  ): string {
    const entry: KvEntry = lease
      ? { id: requestId, route, body, lease }
      : { id: requestId, route, body }
    return JSON.stringify(entry)
  }

  appliedIndex(): number {
    return this.store.appliedIndex()
  }

  currentRevision(): number {
    return this.store.currentRevision()
  }

  apply(entry: Entry): ApplyResult | undefined {
    this.leaseClock.noteApplied(entry.term)
    if (entry.data === '') {
      this.skip(entry.index)
      return undefined
    }
    const parsed = JSON.parse(entry.data) as KvEntry | RestoreEntry
    if (isRestoreEntry(parsed)) return this.applyRestoreChunk(parsed, entry.index)
    const { id, route, body, lease } = parsed
    if (lease) {
      this.leaseClock.observe(entry.term, lease.nowMs, this.options.localNowMs())
      this.leases.setClock(lease.nowMs, entry.term)
    }
    const seen = this.requestIds.mayHave(id)
      ? this.sql.exec('SELECT response FROM member_requests WHERE request_id = ?', id).toArray()[0]
      : undefined
    let reply: KvReply
    if (seen) {
      reply = JSON.parse(String(seen['response'])) as KvReply
    } else {
      const handler = this.options.routes?.[route]
      reply = handler ? handler(body, entry.index) : this.executeAtomically(route, body, lease)
      this.sql.exec(
        'INSERT INTO member_requests (request_id, applied_index, response) VALUES (?, ?, ?)',
        id,
        entry.index,
        JSON.stringify(reply),
      )
      this.requestIds.added(id, entry.index)
      if (entry.index % 1000 === 0) {
        this.sql.exec(
          'DELETE FROM member_requests WHERE applied_index < ?',
          entry.index - REQUEST_MEMORY_ENTRIES,
        )
        this.requestIds.forgotBefore(entry.index - REQUEST_MEMORY_ENTRIES)
      }
    }
    this.store.setAppliedIndex(entry.index)
    return { requestId: id, value: reply }
  }

  /**
   * Runs a write so that a failure leaves no trace: a txn can fail after some of its ops wrote
   * (e.g. a range in it exceeds the reply cap), and etcd applies nothing of a failed request.
   * The nested transaction rolls those writes back; the error is still the answer.
   */
  private executeAtomically(
    route: MachineRoute,
    body: string,
    lease: LeaseEntryContext | undefined,
  ): KvReply {
    // A put or a delete fails before it writes anything: no savepoint needed (it cost ~2 SQL
    // statements per write on every member).
    if (route === 'put' || route === 'deleterange') return this.execute(route, body, undefined)
    const meta = this.store.metaCheckpoint()
    try {
      return this.options.transaction(() => {
        const reply = this.execute(route, body, lease)
        if (reply.status !== 200) throw new FailedRequest(reply)
        return reply
      })
    } catch (e) {
      // Earlier entries of this Ready may hold meta writes back (deferMetaWrites): keep those.
      this.store.rollbackMeta(meta)
      if (e instanceof FailedRequest) return e.reply
      throw e
    }
  }

  /** A read served from this member's state (the caller ensured linearizability if asked). */
  read(route: MachineRoute, body: string): KvReply {
    return this.execute(route, body, undefined)
  }

  afterRollback(): void {
    this.store.forgetCachedMeta()
    this.requestIds.reload()
  }

  // A Ready's entries update the revision and applied index rows once, at the end.
  beginApply(): void {
    this.store.deferMetaWrites()
  }

  endApply(): void {
    this.store.flushMeta()
  }

  /** A read the front door already decoded and validated (the same code, the same limits). */
  readDecoded(request: KvRequest): KvReply {
    try {
      return { status: 200, body: encodeKvResponse(executeKv(this.store, request), this.header()) }
    } catch (err) {
      if (err instanceof EtcdError || err instanceof MvccError) return toHttpError(err)
      throw err
    }
  }

  applyConfChange(entry: Entry, cc: ConfChange): ApplyResult | undefined {
    const result = this.options.membership
      ? applyMemberChange(this.sql, this.options.membership, cc, entry.index)
      : undefined
    if (result) this.requestIds.added(result.requestId, entry.index)
    this.store.setAppliedIndex(entry.index)
    return result
  }

  /** One chunk of a restore (restore.ts); the last one's answer is the request's. */
  private applyRestoreChunk(entry: RestoreEntry, index: number): ApplyResult {
    const outcome = applyRestore(this.sql, this.store, entry, index, (file) =>
      this.restore(file, index),
    )
    const { seq, total } = entry.restore
    const last = seq === total - 1
    if (last) this.requestIds.added(entry.id, index)
    this.store.setAppliedIndex(index)
    // Every chunk wakes its own waiter; the last one's answer is the request's.
    return { requestId: last ? entry.id : `${entry.id}/${seq}`, value: outcome }
  }

  skip(index: number): void {
    this.store.setAppliedIndex(index)
  }

  dump(): string {
    return exportState(this.sql)
  }

  restore(data: string, index: number): void {
    importState(this.sql, data)
    this.store.forgetCachedMeta()
    this.requestIds.reload()
    this.store.setAppliedIndex(index)
    this.loadLeaseClock()
  }

  /** Decodes, validates, runs and encodes one request; every failure is etcd's error reply. */
  private execute(
    route: MachineRoute,
    body: string,
    lease: LeaseEntryContext | undefined,
  ): KvReply {
    if (isLeaseRoute(route)) return this.executeLease(route, body, lease)
    if (route === 'alarm') throw new Error('alarm entries are served by their route handler')
    try {
      const request = decodeKvRequest(route, body)
      validateKvRequest(request, {
        maxTxnOps: this.options.maxTxnOps,
        maxRequestBytes: this.options.maxRequestBytes,
      })
      if (needsConsensus(request)) {
        const refusal = this.options.refuse?.(request)
        if (refusal) throw refusal
      }
      return { status: 200, body: encodeKvResponse(executeKv(this.store, request), this.header()) }
    } catch (err) {
      // Expected outcomes become etcd's answer; anything else is a bug or a storage failure,
      // and must stop this member rather than be replicated as an answer.
      if (err instanceof EtcdError || err instanceof MvccError) return toHttpError(err)
      throw err
    }
  }

  /** A lease entry (time from the entry: deterministic) or a lease read (this member's clock). */
  private executeLease(
    route: LeaseRoute,
    body: string,
    lease: LeaseEntryContext | undefined,
  ): KvReply {
    // Invariant: every lease write carries the leader's lease time (lease-timer.ts adds it).
    if (isLeaseWrite(route) && lease === undefined) {
      throw new Error(`${route} entry without lease time`)
    }
    if (route === 'lease/grant') {
      const refusal = this.options.refuseLeaseGrant?.()
      if (refusal) return toHttpError(refusal)
    }
    return executeLease(this.leases, route, body, {
      header: this.header(),
      revision: () => this.store.currentRevision(),
      minTtlSeconds: this.options.minLeaseTtlSeconds,
      ...(lease ? { entry: lease } : {}),
      nowMs: lease?.nowMs ?? this.leaseClock.now(this.options.localNowMs()),
    })
  }

  private header(): HeaderContext {
    return {
      clusterId: this.options.clusterId,
      memberId: this.options.memberId,
      raftTerm: String(this.options.raftTerm()),
    }
  }
}

export { needsConsensus }
