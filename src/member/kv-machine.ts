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
import type { Entry } from '../raft/index.ts'
import { exportState, importState } from './kv-snapshot.ts'
import type { ApplyResult, StateMachine } from './state-machine.ts'

export type { KvRoute, LeaseRoute }

/** Every route an entry or a read can name: etcd's KV routes and the lease routes. */
export type MachineRoute = KvRoute | LeaseRoute

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
    this.leases = new LeaseStore(sql, this.store)
    this.loadLeaseClock()
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

  /** After a restart or a snapshot: the lease clock starts from the last lease entry applied. */
  private loadLeaseClock(): void {
    const clock = this.leases.clock()
    if (clock !== null) this.leaseClock.observe(clock.term, clock.nowMs, this.options.localNowMs())
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
    const { id, route, body, lease } = JSON.parse(entry.data) as KvEntry
    if (lease) {
      this.leaseClock.observe(entry.term, lease.nowMs, this.options.localNowMs())
      this.leases.setClock(lease.nowMs, entry.term)
    }
    const seen = this.sql
      .exec('SELECT response FROM member_requests WHERE request_id = ?', id)
      .toArray()[0]
    let reply: KvReply
    if (seen) {
      reply = JSON.parse(String(seen['response'])) as KvReply
    } else {
      reply = this.executeAtomically(route, body, lease)
      this.sql.exec(
        'INSERT INTO member_requests (request_id, applied_index, response) VALUES (?, ?, ?)',
        id,
        entry.index,
        JSON.stringify(reply),
      )
      if (entry.index % 1000 === 0) {
        this.sql.exec(
          'DELETE FROM member_requests WHERE applied_index < ?',
          entry.index - REQUEST_MEMORY_ENTRIES,
        )
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
    try {
      return this.options.transaction(() => {
        const reply = this.execute(route, body, lease)
        if (reply.status !== 200) throw new FailedRequest(reply)
        return reply
      })
    } catch (e) {
      if (e instanceof FailedRequest) return e.reply
      throw e
    }
  }

  /** A read served from this member's state (the caller ensured linearizability if asked). */
  read(route: MachineRoute, body: string): KvReply {
    return this.execute(route, body, undefined)
  }

  skip(index: number): void {
    this.store.setAppliedIndex(index)
  }

  dump(): string {
    return exportState(this.sql)
  }

  restore(data: string, index: number): void {
    importState(this.sql, data)
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
    try {
      const request = decodeKvRequest(route, body)
      validateKvRequest(request, {
        maxTxnOps: this.options.maxTxnOps,
        maxRequestBytes: this.options.maxRequestBytes,
      })
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
    const write = isLeaseWrite(route)
    // Invariant: every lease write carries the leader's lease time (lease-timer.ts adds it).
    if (write && lease === undefined) throw new Error(`${route} entry without lease time`)
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
