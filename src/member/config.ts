// The cluster configuration, read once from the Worker's vars (wrangler.toml [vars]).
// Pure: the same vars always give the same config, in the member and in the front door.

/** One member as INITIAL_CLUSTER names it: "m1" or "m1@wnam" (with a location hint). */
export interface MemberSpec {
  name: string
  locationHint?: string
}

/** Everything a member or the front door needs to know about the cluster. */
export interface ClusterConfig {
  clusterName: string
  members: MemberSpec[]
  heartbeatIntervalMs: number
  electionTimeoutMs: number
  snapshotCount: number
  /** A raft snapshot larger than this (in UTF-16 code units) is sent in chunks of this size. */
  snapshotChunkBytes: number
  quotaBackendBytes: number
  maxRequestBytes: number
  maxTxnOps: number
  autoCompactionMode: 'periodic' | 'revision'
  autoCompactionRetention: string
  /** etcd --experimental-watch-progress-notify-interval (default 10 minutes). */
  watchProgressNotifyIntervalMs: number
  /** A watch stream whose client leaves this many bytes untaken is canceled (slow consumer). */
  watchMaxBacklogBytes: number
  /**
   * Disaster recovery (etcd --force-new-cluster): the surviving member's INITIAL_CLUSTER name,
   * optionally `name#tag` to run it again later. Remove it once the cluster is rebuilt.
   */
  forceNewCluster?: string
  /** The rate a WebSocket watch client is assumed to take bytes at (src/member/socket-backlog.ts). */
  watchWsDrainBytesPerSec: number
}

/** The vars as the platform hands them over: strings, any of them possibly missing. */
export type ClusterVars = Partial<Record<string, unknown>>

const LOCATION_HINTS = new Set(['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'oc', 'afr', 'me'])

/** Parses INITIAL_CLUSTER ("m1,m2@enam,m3"). Throws on a malformed or duplicate entry. */
export function parseInitialCluster(text: string): MemberSpec[] {
  const members: MemberSpec[] = []
  const seen = new Set<string>()
  for (const raw of text.split(',')) {
    const item = raw.trim()
    if (item === '') continue
    const [name = '', hint, ...rest] = item.split('@')
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || rest.length > 0) {
      throw new Error(`INITIAL_CLUSTER: malformed member "${item}"`)
    }
    if (hint !== undefined && !LOCATION_HINTS.has(hint)) {
      throw new Error(`INITIAL_CLUSTER: unknown location hint "${hint}" for member "${name}"`)
    }
    if (seen.has(name)) throw new Error(`INITIAL_CLUSTER: duplicate member "${name}"`)
    seen.add(name)
    members.push(hint === undefined ? { name } : { name, locationHint: hint })
  }
  if (members.length === 0) throw new Error('INITIAL_CLUSTER: no members')
  return members
}

function intVar(vars: ClusterVars, name: string, fallback: number): number {
  const value = vars[name]
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}: not a non-negative integer`)
  return n
}

/** Reads the cluster configuration from the vars, with etcd's defaults where a var is absent. */
export function readClusterConfig(vars: ClusterVars): ClusterConfig {
  const mode = String(vars.AUTO_COMPACTION_MODE ?? 'periodic')
  if (mode !== 'periodic' && mode !== 'revision') {
    throw new Error('AUTO_COMPACTION_MODE: must be periodic or revision')
  }
  const config: ClusterConfig = {
    clusterName: String(vars.CLUSTER_NAME ?? 'default'),
    members: parseInitialCluster(String(vars.INITIAL_CLUSTER ?? 'm1,m2,m3')),
    heartbeatIntervalMs: intVar(vars, 'HEARTBEAT_INTERVAL_MS', 100),
    electionTimeoutMs: intVar(vars, 'ELECTION_TIMEOUT_MS', 1000),
    snapshotCount: intVar(vars, 'SNAPSHOT_COUNT', 10_000),
    // Durable Object RPC arguments are limited to 32 MiB; a chunk of 4 Mi code units of (nearly
    // all ASCII) JSON is 4–12 MiB serialized.
    snapshotChunkBytes: intVar(vars, 'SNAPSHOT_CHUNK_BYTES', 4 * 1024 * 1024),
    quotaBackendBytes: intVar(vars, 'QUOTA_BACKEND_BYTES', 2 * 1024 ** 3),
    maxRequestBytes: intVar(vars, 'MAX_REQUEST_BYTES', 1.5 * 1024 * 1024),
    maxTxnOps: intVar(vars, 'MAX_TXN_OPS', 128),
    autoCompactionMode: mode,
    autoCompactionRetention: String(vars.AUTO_COMPACTION_RETENTION ?? '0'),
    watchProgressNotifyIntervalMs: intVar(vars, 'WATCH_PROGRESS_NOTIFY_INTERVAL_MS', 600_000),
    watchMaxBacklogBytes: intVar(vars, 'WATCH_MAX_BACKLOG_BYTES', 16 * 1024 * 1024),
    watchWsDrainBytesPerSec: intVar(vars, 'WATCH_WS_DRAIN_BYTES_PER_SEC', 4 * 1024 * 1024),
  }
  if (typeof vars.FORCE_NEW_CLUSTER === 'string' && vars.FORCE_NEW_CLUSTER !== '') {
    config.forceNewCluster = vars.FORCE_NEW_CLUSTER
  }
  if (config.snapshotChunkBytes < 1024) throw new Error('SNAPSHOT_CHUNK_BYTES: must be ≥ 1024')
  if (config.heartbeatIntervalMs === 0) throw new Error('HEARTBEAT_INTERVAL_MS: must be > 0')
  if (config.electionTimeoutMs < 5 * config.heartbeatIntervalMs) {
    // etcd requires --election-timeout >= 5 × --heartbeat-interval.
    throw new Error('ELECTION_TIMEOUT_MS: must be at least 5 × HEARTBEAT_INTERVAL_MS')
  }
  return config
}
