// A member's maintenance service (etcd's maintenanceServer, quota and compactor, per member):
// status, hash, hashkv, defragment, move-leader, the quota check before proposing, the apply
// side of alarms, auto-compaction, and the metrics scrape. The Durable Object (member.ts) only
// routes its RPCs here; the wire format and etcd's rules live in src/api/maintenance-service.ts.
import { EtcdErrors, toHttpError } from '../api/errors.ts'
import { decodeKvRequest, type HeaderContext, type KvRequest } from '../api/kv-service.ts'
import {
  type AlarmMember,
  alarmRefusal,
  leaseGrantRefusal,
  applyAlarm,
  decodeAlarmRequest,
  decodeEmptyRequest,
  decodeHashKvRequest,
  decodeMoveLeaderRequest,
  encodeAlarmResponse,
  encodeHashKvResponse,
  encodeHashResponse,
  encodeStatusResponse,
  KV_OVERHEAD_BYTES,
  LEASE_OVERHEAD_BYTES,
  quotaAvailable,
  quotaCost,
} from '../api/maintenance-service.ts'
import { AutoCompactor, autoCompactionPolicy } from '../mvcc/auto-compactor.ts'
import { Crc32c } from '../mvcc/hash.ts'
import type { KvStore } from '../mvcc/kv-store.ts'
import type { Sql } from '../mvcc/sql.ts'
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version.ts'
import { SqlAlarmSet } from './alarms.ts'
import type { ClusterConfig } from './config.ts'
import type { KvMachineOptions, KvReply, MachineRoute } from './kv-machine.ts'
import type { MemberCore } from './member-core.ts'
import { grpcCodeName, MemberMetrics, type MetricFamily } from './metrics.ts'
import type { Message } from '../raft/index.ts'

/** The maintenance RPCs a member answers itself (alarm goes through raft as a write). */
export type MaintenanceOp = 'status' | 'hash' | 'hashkv' | 'defragment' | 'moveLeader' | 'health'

/** What the front door's /health, /livez and /readyz need from a member ('health' op). */
export interface MemberHealth {
  alarms: AlarmMember[]
  /** The leader's member id, '' when none is known. */
  leader: string
  isLearner: boolean
}

/** A failed member call as a value (RPC loses error classes); see member.ts MemberFailure. */
interface Failure {
  ok: false
  etcdError: 'NoLeader' | 'Timeout' | 'LeaderChanged' | 'Stopped'
  leaderName?: string
}

/** One write as writeBatch takes it. */
export interface QuotaWrite {
  route: MachineRoute
  body: string
  requestId?: string
}

/** What the maintenance service needs from its member. */
export interface MaintenanceDeps {
  sql: Sql
  store: KvStore
  alarms: SqlAlarmSet
  config: ClusterConfig
  memberId: string
  core: () => MemberCore
  header: () => HeaderContext
  /** The SQLite database's size in bytes (ctx.storage.sql.databaseSize). */
  databaseSizeBytes: () => number
  leaderName: () => string | undefined
  /** Proposes a replicated request through raft and waits for its answer. */
  propose: (route: MachineRoute, body: string) => Promise<KvReply | Failure>
  /** Calls the same op on the leader. */
  forward: (leaderName: string, op: MaintenanceOp, body: string) => Promise<KvReply | Failure>
  /** How long move-leader waits for the new leader (etcd: the request's deadline). */
  requestTimeoutMs: number
}

/** The KvMachine options that make alarms replicated state: the alarm route and the appliers. */
export function alarmMachineOptions(
  alarms: SqlAlarmSet,
): Pick<KvMachineOptions, 'routes' | 'refuse' | 'refuseLeaseGrant'> {
  return {
    routes: {
      alarm: (body, index) => {
        try {
          alarms.applyingIndex = index
          return {
            status: 200,
            body: encodeAlarmResponse(applyAlarm(alarms, decodeAlarmRequest(body))),
          }
        } catch (e) {
          return toHttpError(e)
        }
      },
    },
    refuse: (request: KvRequest) => alarmRefusal(alarms, request),
    refuseLeaseGrant: () => leaseGrantRefusal(alarms),
  }
}

/** Request ids of the member's own proposals start with this. */
export const INTERNAL_REQUEST_PREFIX = 'internal/'

/** gRPC service and method of each replicated route, as go-grpc-prometheus labels them. */
const RPC_NAMES: Record<MachineRoute, [string, string]> = {
  range: ['etcdserverpb.KV', 'Range'],
  put: ['etcdserverpb.KV', 'Put'],
  deleterange: ['etcdserverpb.KV', 'DeleteRange'],
  txn: ['etcdserverpb.KV', 'Txn'],
  compaction: ['etcdserverpb.KV', 'Compact'],
  alarm: ['etcdserverpb.Maintenance', 'Alarm'],
  'lease/grant': ['etcdserverpb.Lease', 'LeaseGrant'],
  'lease/revoke': ['etcdserverpb.Lease', 'LeaseRevoke'],
  'lease/keepalive': ['etcdserverpb.Lease', 'LeaseKeepAlive'],
  'lease/timetolive': ['etcdserverpb.Lease', 'LeaseTimeToLive'],
  'lease/leases': ['etcdserverpb.Lease', 'LeaseLeases'],
  // The leader's own lease entries (expiry, clock checkpoints): no client RPC.
  'lease/expire': ['etcdserverpb.Lease', 'LeaseRevoke'],
  'lease/checkpoint': ['etcdserverpb.Lease', 'LeaseCheckpoint'],
}

/** The gRPC code of an answer: 0 for success, else the code in etcd's error body. */
function replyCode(r: KvReply): number {
  if (r.status === 200) return 0
  const m = /"code":(\d+)/.exec(r.body)
  return m ? Number(m[1]) : 2
}

/**
 * Bytes of a batch of raft messages on the wire, estimated without serializing it again: entry
 * and snapshot payloads plus a fixed allowance per message and entry for the other fields.
 */
function messagesBytes(messages: Message[]): number {
  let bytes = 0
  for (const m of messages) {
    bytes += 96 + (m.snapshot?.data.length ?? 0)
    for (const e of m.entries) bytes += 32 + e.data.length
  }
  return bytes
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One member's maintenance service. */
export class MemberMaintenance {
  readonly metrics = new MemberMetrics()
  private readonly compactor: AutoCompactor | undefined

  constructor(private readonly deps: MaintenanceDeps) {
    const policy = autoCompactionPolicy(
      deps.config.autoCompactionMode,
      deps.config.autoCompactionRetention,
    )
    this.compactor = policy
      ? new AutoCompactor(policy, Date.now(), deps.store.currentRevision())
      : undefined
  }

  /** Answers one maintenance RPC; etcd errors become etcd's reply. */
  async handle(op: MaintenanceOp, body: string): Promise<KvReply | Failure> {
    try {
      switch (op) {
        case 'status':
          decodeEmptyRequest(body)
          return this.ok(this.status())
        case 'hash':
          decodeEmptyRequest(body)
          return this.ok(this.hash())
        case 'hashkv': {
          const { revision } = decodeHashKvRequest(body)
          return this.ok(encodeHashKvResponse(this.deps.store.hashKV(revision), this.deps.header()))
        }
        case 'defragment':
          decodeEmptyRequest(body)
          return this.ok(this.defragment())
        case 'moveLeader':
          return await this.moveLeader(body)
        case 'health': {
          const raft = this.deps.core().status()
          const health: MemberHealth = {
            alarms: this.deps.alarms.get('NONE'),
            leader: raft.lead,
            isLearner: raft.config.learners.includes(raft.id),
          }
          return this.ok(JSON.stringify(health))
        }
      }
    } catch (e) {
      return toHttpError(e)
    }
  }

  private ok(body: string): KvReply {
    return { status: 200, body }
  }

  private status(): string {
    const raft = this.deps.core().status()
    const size = this.deps.databaseSizeBytes()
    return encodeStatusResponse(
      {
        revision: this.deps.store.currentRevision(),
        version: ETCD_SERVER_VERSION,
        dbSizeBytes: size,
        // Durable Object SQLite gives its freed pages back at commit (docs/maintenance.md), and
        // refuses the pragmas that count free pages: what it allocates is what it uses.
        dbSizeInUseBytes: size,
        leader: raft.lead,
        raftCommitIndex: raft.commit,
        raftTerm: raft.term,
        raftAppliedIndex: this.deps.store.appliedIndex(),
        isLearner: raft.config.learners.includes(raft.id),
        alarms: this.deps.alarms.get('NONE'),
      },
      this.deps.header(),
    )
  }

  /**
   * etcd's Hash is a CRC-32C of its whole bolt file except the raft metadata; ours covers the
   * same replicated state — HashKV at the current revision, the compacted revision and the
   * alarms — so it is equal on members that applied the same entries (not equal to etcd's value).
   */
  private hash(): string {
    const store = this.deps.store
    const kv = store.hashKV(0)
    const bytes = new DataView(new ArrayBuffer(12))
    bytes.setUint32(0, kv.hash)
    bytes.setFloat64(4, kv.compactRevision)
    const crc = new Crc32c().update(new Uint8Array(bytes.buffer))
    const text = new TextEncoder()
    for (const a of this.deps.alarms.get('NONE'))
      crc.update(text.encode(`${a.memberID}:${a.alarm};`))
    return encodeHashResponse(crc.digest(), kv.currentRevision, this.deps.header())
  }

  /**
   * etcd rewrites its bolt file to drop free pages. Durable Object SQLite refuses VACUUM ("cannot
   * VACUUM from within a transaction": every statement runs in one) and the free-page pragmas,
   * and already returns freed pages at commit, so there is nothing left to reclaim: this runs
   * `PRAGMA optimize` (refreshes the query planner's statistics) and answers as etcd does.
   */
  private defragment(): string {
    this.deps.sql.exec('PRAGMA optimize')
    return '{}'
  }

  /** etcd MoveLeader: only the leader transfers; it waits until the target leads. */
  private async moveLeader(body: string): Promise<KvReply | Failure> {
    const { targetID } = decodeMoveLeaderRequest(body)
    const core = this.deps.core()
    if (!core.isLeader) {
      const leader = this.deps.leaderName()
      if (leader === undefined) return { ok: false, etcdError: 'NoLeader' }
      return this.deps.forward(leader, 'moveLeader', body)
    }
    if (!core.status().config.voters.includes(targetID)) throw EtcdErrors.BadLeaderTransferee
    core.transferLeader(targetID)
    const deadline = Date.now() + this.deps.requestTimeoutMs
    while (core.lead !== targetID) {
      if (Date.now() > deadline) throw EtcdErrors.TimeoutLeaderTransfer
      await sleep(this.deps.config.heartbeatIntervalMs)
    }
    return this.ok('{}')
  }

  // ---- quota (etcd v3rpc quotaKVServer) ------------------------------------------------------

  /**
   * etcd's check before a put or txn is proposed: refused when the database size plus the
   * request's cost reaches the quota. Returns the indexes of the refused writes.
   */
  overQuota(writes: QuotaWrite[]): Set<number> {
    const refused = new Set<number>()
    const quota = this.deps.config.quotaBackendBytes
    const size = this.deps.databaseSizeBytes()
    // A request costs at most 256 bytes per put plus its body's length: most pass without decoding.
    const overheadMax = KV_OVERHEAD_BYTES * (this.deps.config.maxTxnOps + 1)
    writes.forEach((w, i) => {
      // etcd's quotaLeaseServer: a grant costs LEASE_OVERHEAD_BYTES, nothing to decode.
      if (w.route === 'lease/grant') {
        if (!quotaAvailable(size, LEASE_OVERHEAD_BYTES, quota)) refused.add(i)
        return
      }
      if (w.route !== 'put' && w.route !== 'txn') return
      if (quotaAvailable(size, overheadMax + w.body.length, quota)) return
      let cost: number
      try {
        cost = quotaCost(decodeKvRequest(w.route, w.body))
      } catch {
        return // bad input: the apply answers with etcd's error
      }
      if (!quotaAvailable(size, cost, quota)) refused.add(i)
    })
    return refused
  }

  /**
   * Answers the refused writes with etcd's "database space exceeded" after raising the NOSPACE
   * alarm for this member through raft (etcd waits for the alarm too), and proposes the rest.
   */
  async refuseOverQuota<W extends QuotaWrite, R>(
    writes: W[],
    refused: Set<number>,
    proposeRest: (rest: W[]) => Promise<{ leaderName: string | undefined; results: R[] } | Failure>,
  ): Promise<{ leaderName: string | undefined; results: (R | KvReply)[] } | Failure> {
    const startedMs = Date.now()
    const rest = writes.filter((_, i) => !refused.has(i))
    const alarm = JSON.stringify({
      action: 'ACTIVATE',
      memberID: this.deps.memberId,
      alarm: 'NOSPACE',
    })
    // etcd proposes the activation on every refusal; once this member's NOSPACE is raised that
    // changes nothing but adds raft entries and stored answers to a database that is full.
    const raised = this.deps.alarms.get('NOSPACE').some((a) => a.memberID === this.deps.memberId)
    const [restReply] = await Promise.all([
      rest.length > 0 ? proposeRest(rest) : undefined,
      raised ? undefined : this.deps.propose('alarm', alarm).catch(() => undefined),
    ])
    if (restReply !== undefined && !('results' in restReply)) return restReply
    const noSpace = toHttpError(EtcdErrors.NoSpace)
    const refusedWrites = writes.filter((_, i) => refused.has(i))
    this.recordRequests(
      refusedWrites,
      refusedWrites.map(() => noSpace),
      startedMs,
    )
    let next = 0
    return {
      leaderName: restReply?.leaderName ?? this.deps.leaderName(),
      results: writes.map((_, i) => (refused.has(i) ? noSpace : restReply!.results[next++]!)),
    }
  }

  // ---- auto-compaction -----------------------------------------------------------------------

  /** A raft tick passed: the leader proposes the compaction the policy asks for, if any. */
  onTick(nowMs: number): void {
    const compactor = this.compactor
    if (!compactor) return
    const store = this.deps.store
    const rev = compactor.tick(nowMs, store.currentRevision(), this.deps.core().isLeader)
    if (rev === undefined) return
    const finish = (ok: boolean) => compactor.done(Date.now(), ok, store.currentRevision())
    this.deps.propose('compaction', JSON.stringify({ revision: String(rev) })).then(
      (r) =>
        finish(
          'status' in r && (r.status === 200 || r.body.includes(EtcdErrors.Compacted.message)),
        ),
      () => finish(false),
    )
  }

  // ---- metrics -------------------------------------------------------------------------------

  /** Client requests this member answered (proposed here, or read here), for grpc_server_*. */
  recordRequests(
    requests: { route: MachineRoute; requestId?: string }[],
    results: (KvReply | Failure)[],
    startedMs: number,
  ): void {
    const seconds = (Date.now() - startedMs) / 1000
    requests.forEach((req, i) => {
      // The member's own proposals (quota alarms, auto-compaction) are not client RPCs.
      if (req.requestId?.startsWith(INTERNAL_REQUEST_PREFIX)) return
      const r = results[i]
      const code = r === undefined || !('status' in r) ? 14 : replyCode(r)
      if (r !== undefined && !('status' in r)) this.metrics.proposalsFailed.inc()
      const [service, method] = RPC_NAMES[req.route]
      this.metrics.recordRequest(service, method, grpcCodeName(code), seconds)
    })
  }

  /** etcd counts a change to a known leader (not the loss of one). */
  onLeaderChange(lead: string): void {
    if (lead !== '') this.metrics.leaderChanges.inc()
  }

  /** Times one storage transaction (etcd_disk_backend_commit_duration_seconds). */
  timeCommit<T>(fn: () => T): T {
    const startedMs = Date.now()
    try {
      return fn()
    } finally {
      this.metrics.backendCommit.observe((Date.now() - startedMs) / 1000)
    }
  }

  /** A batch of raft messages reached peer `to` (member id) in `seconds`. */
  recordSent(to: string, messages: Message[], seconds: number): void {
    this.metrics.peerSentBytes.inc({ To: to }, messagesBytes(messages))
    this.metrics.peerRoundTrip.observe(seconds, { To: to })
  }

  recordSendFailure(to: string): void {
    this.metrics.peerSentFailures.inc({ To: to })
  }

  recordReceived(messages: Message[]): void {
    const from = messages[0]?.from
    if (from !== undefined)
      this.metrics.peerReceivedBytes.inc({ From: from }, messagesBytes(messages))
  }

  /** Every metric family, gauges read now. */
  collectMetrics(): MetricFamily[] {
    const raft = this.deps.core().status()
    const store = this.deps.store
    const size = this.deps.databaseSizeBytes()
    const keys = this.deps.sql.exec('SELECT COUNT(*) AS n FROM mvcc_latest').one()['n']
    return this.metrics.collect({
      memberIdHex: BigInt(this.deps.memberId).toString(16),
      serverVersion: ETCD_SERVER_VERSION,
      clusterVersion: ETCD_CLUSTER_VERSION.split('.').slice(0, 2).join('.'),
      hasLeader: raft.lead !== '',
      isLeader: raft.state === 'leader',
      isLearner: raft.config.learners.includes(raft.id),
      committedIndex: raft.commit,
      appliedIndex: store.appliedIndex(),
      pendingProposals: this.metrics.pendingProposals,
      quotaBackendBytes: this.deps.config.quotaBackendBytes,
      dbSizeBytes: size,
      dbSizeInUseBytes: size,
      keys: Number(keys),
      currentRevision: store.currentRevision(),
      compactRevision: Math.max(0, store.compactedRevision()),
    })
  }
}
