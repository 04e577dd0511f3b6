import type { Member } from './member.ts'

/** The Worker's bindings and vars (wrangler.toml). */
export interface Env {
  MEMBER: DurableObjectNamespace<Member>
  CLUSTER_NAME?: string
  INITIAL_CLUSTER?: string
  HEARTBEAT_INTERVAL_MS?: string
  ELECTION_TIMEOUT_MS?: string
  SNAPSHOT_COUNT?: string
  SNAPSHOT_CHUNK_BYTES?: string
  QUOTA_BACKEND_BYTES?: string
  MAX_REQUEST_BYTES?: string
  MAX_TXN_OPS?: string
  AUTO_COMPACTION_MODE?: string
  AUTO_COMPACTION_RETENTION?: string
  WATCH_PROGRESS_NOTIFY_INTERVAL_MS?: string
  WATCH_MAX_BACKLOG_BYTES?: string
  /** Disaster recovery: the surviving member (docs/membership-and-backup.md). */
  FORCE_NEW_CLUSTER?: string
  WATCH_WS_DRAIN_BYTES_PER_SEC?: string
  /** Test-only fault injection (DESIGN.md §5). Never set in a production config. */
  DEV_FAULTS?: string
}
