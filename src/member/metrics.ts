// A member's Prometheus metrics, with etcd's names, help texts and types where etcd has the
// metric (etcd 3.4's /metrics). Counters and histograms live in the member's memory: they start
// at zero when the Durable Object starts (a restart, an eviction, a deploy), as etcd's do when
// its process restarts. Gauges are read when scraped. The front door merges every member's
// families into one /metrics page, with a `member` label (src/gateway/metrics-text.ts).

/** Prometheus metric types used here. */
export type MetricType = 'counter' | 'gauge' | 'histogram'

/** One sample: full name (with _bucket/_sum/_count for histograms), labels, value. */
export interface MetricSample {
  name: string
  labels: Record<string, string>
  value: number
}

/** A metric family as scraped (plain data: it crosses the Durable Object RPC boundary). */
export interface MetricFamily {
  name: string
  help: string
  type: MetricType
  samples: MetricSample[]
}

type Labels = Record<string, string>

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))
}

/** A counter or gauge with labels. */
class Series {
  private readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels)
    const v = this.values.get(key)
    if (v) v.value += by
    else this.values.set(key, { labels, value: by })
  }

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), { labels, value })
  }

  collect(): MetricFamily {
    const samples = [...this.values.values()].map((v) => ({
      name: this.name,
      labels: v.labels,
      value: v.value,
    }))
    return { name: this.name, help: this.help, type: this.type, samples }
  }
}

/** A histogram with fixed upper bounds (cumulative buckets, as Prometheus exposes them). */
class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels)
    let s = this.series.get(key)
    if (!s) {
      // One count per bound, and a last one for +Inf (every observation).
      s = { labels, counts: [...this.bounds.map(() => 0), 0], sum: 0 }
      this.series.set(key, s)
    }
    this.bounds.forEach((b, i) => {
      if (value <= b) s.counts[i]!++
    })
    s.sum += value
    s.counts[this.bounds.length]!++
  }

  collect(): MetricFamily {
    const samples: MetricSample[] = []
    for (const s of this.series.values()) {
      this.bounds.forEach((b, i) =>
        samples.push({
          name: `${this.name}_bucket`,
          labels: { ...s.labels, le: String(b) },
          value: s.counts[i]!,
        }),
      )
      const count = s.counts[this.bounds.length] ?? 0
      samples.push({
        name: `${this.name}_bucket`,
        labels: { ...s.labels, le: '+Inf' },
        value: count,
      })
      samples.push({ name: `${this.name}_sum`, labels: s.labels, value: s.sum })
      samples.push({ name: `${this.name}_count`, labels: s.labels, value: count })
    }
    return { name: this.name, help: this.help, type: 'histogram', samples }
  }
}

/** Prometheus' exponential buckets: start, start·factor, … (count of them). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i)
}

/** prometheus.DefBuckets (go-grpc-prometheus' handling-time histogram uses them). */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** gRPC code names, as go-grpc-prometheus labels them. */
const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
]

/** The gRPC code name of an etcd error code. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown'
}

/** What is read from the member when scraped (gauges). */
export interface MemberGauges {
  /** The member id in hexadecimal, as etcd labels etcd_server_id. */
  memberIdHex: string
  serverVersion: string
  clusterVersion: string
  hasLeader: boolean
  isLeader: boolean
  isLearner: boolean
  committedIndex: number
  appliedIndex: number
  pendingProposals: number
  quotaBackendBytes: number
  dbSizeBytes: number
  dbSizeInUseBytes: number
  keys: number
  currentRevision: number
  compactRevision: number
}

/** Every metric a member keeps. */
export class MemberMetrics {
  readonly leaderChanges = new Series(
    'etcd_server_leader_changes_seen_total',
    'The number of leader changes seen.',
    'counter',
  )
  readonly proposalsFailed = new Series(
    'etcd_server_proposals_failed_total',
    'The total number of failed proposals seen.',
    'counter',
  )
  readonly peerSentBytes = new Series(
    'etcd_network_peer_sent_bytes_total',
    'The total number of bytes sent to peers.',
    'counter',
  )
  readonly peerReceivedBytes = new Series(
    'etcd_network_peer_received_bytes_total',
    'The total number of bytes received from peers.',
    'counter',
  )
  readonly peerSentFailures = new Series(
    'etcd_network_peer_sent_failures_total',
    'The total number of send failures from peers.',
    'counter',
  )
  readonly peerRoundTrip = new Histogram(
    'etcd_network_peer_round_trip_time_seconds',
    'Round-Trip-Time histogram between peers',
    exponentialBuckets(0.0001, 2, 14),
  )
  readonly backendCommit = new Histogram(
    'etcd_disk_backend_commit_duration_seconds',
    'The latency distributions of commit called by backend.',
    exponentialBuckets(0.001, 2, 14),
  )
  readonly handled = new Series(
    'grpc_server_handled_total',
    'Total number of RPCs completed on the server, regardless of success or failure.',
    'counter',
  )
  readonly handling = new Histogram(
    'grpc_server_handling_seconds',
    'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    DEFAULT_BUCKETS,
  )
  readonly readIndexesFailed = new Series(
    'etcd_server_read_indexes_failed_total',
    'The total number of failed read indexes seen.',
    'counter',
  )
  /** Proposals this member is waiting on (etcd_server_proposals_pending). */
  pendingProposals = 0

  /** One client request this member answered: which RPC, its gRPC code, how long it took. */
  recordRequest(service: string, method: string, code: string, seconds: number): void {
    const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method }
    this.handled.inc({ ...labels, grpc_code: code })
    this.handling.observe(seconds, labels)
  }

  /** Every family, with the gauges read now. */
  collect(g: MemberGauges): MetricFamily[] {
    const gauge = (
      name: string,
      help: string,
      value: number,
      labels: Record<string, string> = {},
    ): MetricFamily => ({ name, help, type: 'gauge', samples: [{ name, labels, value }] })
    return [
      gauge(
        'etcd_server_version',
        "Which version is running. 1 for 'server_version' label with current version.",
        1,
        { server_version: g.serverVersion },
      ),
      gauge(
        'etcd_cluster_version',
        "Which version is running. 1 for 'cluster_version' label with current cluster version",
        1,
        { cluster_version: g.clusterVersion },
      ),
      gauge(
        'etcd_server_id',
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
        1,
        { server_id: g.memberIdHex },
      ),
      gauge(
        'etcd_server_has_leader',
        'Whether or not a leader exists. 1 is existence, 0 is not.',
        g.hasLeader ? 1 : 0,
      ),
      gauge(
        'etcd_server_is_leader',
        'Whether or not this member is a leader. 1 if is, 0 otherwise.',
        g.isLeader ? 1 : 0,
      ),
      gauge(
        'etcd_server_is_learner',
        'Whether or not this member is a learner. 1 if is, 0 otherwise.',
        g.isLearner ? 1 : 0,
      ),
      this.leaderChanges.collect(),
      gauge(
        'etcd_server_proposals_committed_total',
        'The total number of consensus proposals committed.',
        g.committedIndex,
      ),
      gauge(
        'etcd_server_proposals_applied_total',
        'The total number of consensus proposals applied.',
        g.appliedIndex,
      ),
      gauge(
        'etcd_server_proposals_pending',
        'The current number of pending proposals to commit.',
        g.pendingProposals,
      ),
      this.proposalsFailed.collect(),
      this.readIndexesFailed.collect(),
      gauge(
        'etcd_server_quota_backend_bytes',
        'Current backend storage quota size in bytes.',
        g.quotaBackendBytes,
      ),
      gauge(
        'etcd_mvcc_db_total_size_in_bytes',
        'Total size of the underlying database physically allocated in bytes.',
        g.dbSizeBytes,
      ),
      gauge(
        'etcd_mvcc_db_total_size_in_use_in_bytes',
        'Total size of the underlying database logically in use in bytes.',
        g.dbSizeInUseBytes,
      ),
      gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', g.keys),
      gauge(
        'etcd_debugging_mvcc_current_revision',
        'The current revision of store.',
        g.currentRevision,
      ),
      gauge(
        'etcd_debugging_mvcc_compact_revision',
        'The revision of the last compaction in store.',
        g.compactRevision,
      ),
      this.peerSentBytes.collect(),
      this.peerReceivedBytes.collect(),
      this.peerSentFailures.collect(),
      this.peerRoundTrip.collect(),
      this.backendCommit.collect(),
      this.handled.collect(),
      this.handling.collect(),
    ]
  }
}
