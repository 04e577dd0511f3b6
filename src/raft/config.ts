// Configuration of a raft node (etcd raft.Config), with the defaults the team agreed on.

import { assert } from './errors.ts'
import type { Rng } from './rng.ts'
import type { Storage } from './storage.ts'
import type { NodeId } from './types.ts'

/** Where the core writes its (optional) diagnostics. */
export interface Logger {
  debug(msg: string): void
  info(msg: string): void
  warn(msg: string): void
}

/**
 * Deliberate bugs for proving the simulator's checkers can fail. Never set outside tests.
 * - `commitPreviousTerm`: the leader commits by counting replicas of entries from earlier terms
 *   (the Raft paper Figure 8 bug).
 * - `doubleVote`: a node grants a vote to any up-to-date candidate even if it already voted in
 *   this term.
 * - `ignoreLogInVote`: a node votes without the election restriction (§5.4.1), so a candidate
 *   with a stale log can win and overwrite committed entries.
 */
export interface UnsafeTestingKnobs {
  commitPreviousTerm?: boolean
  doubleVote?: boolean
  ignoreLogInVote?: boolean
}

/** Parameters of a raft node. Only `id`, `storage` and `rng` are required. */
export interface Config {
  /** This node's id; never `''`. */
  id: NodeId
  /**
   * Bootstrap voters. Used only when storage is empty (first start of a brand-new cluster):
   * one `addNode` conf-change entry per peer is written at term 1 and committed (as etcd's
   * RawNode.Bootstrap). Give the same list, in the same order, on every initial member. A node
   * joining an existing cluster passes none and learns the log from the leader.
   */
  peers?: NodeId[]
  /** Bootstrap learners (same rules as `peers`). */
  learners?: NodeId[]
  /** Ticks without hearing from a leader before campaigning; randomized in [e, 2e). Default 10. */
  electionTicks?: number
  /** Ticks between leader heartbeats. Default 1. Must be < electionTicks. */
  heartbeatTicks?: number
  /** Stable storage the log is read from. */
  storage: Storage
  /**
   * The last index already applied to the state machine (on restart). Entries after it are
   * handed out again as committedEntries. `storage.initialState().confState` must be the
   * membership as of this index (or as of the snapshot, if applied is the snapshot index).
   */
  applied?: number
  /** The most entry bytes in one MsgApp. Default 1 MiB. */
  maxSizePerMsg?: number
  /** The most bytes of committed entries in one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number
  /** The most bytes of uncommitted entries the leader accepts (0 = unlimited). Default 0. */
  maxUncommittedEntriesSize?: number
  /** The most in-flight MsgApp per follower in replicate state. Default 256. */
  maxInflightMsgs?: number
  /** The most in-flight bytes per follower (0 = unlimited). Default 0. */
  maxInflightBytes?: number
  /** Pre-vote (Raft thesis §9.6). Default true. */
  preVote?: boolean
  /** Check-quorum: the leader steps down without a quorum; followers ignore votes in lease. Default true. */
  checkQuorum?: boolean
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean
  /** The seeded randomness for election timeouts. */
  rng: Rng
  logger?: Logger
  /** Test-only deliberate bugs; see UnsafeTestingKnobs. */
  unsafeTestingKnobs?: UnsafeTestingKnobs
}

/** A Config with every default filled in. */
export type ResolvedConfig = Required<Omit<Config, 'logger' | 'unsafeTestingKnobs'>> & {
  logger: Logger
  unsafeTestingKnobs: UnsafeTestingKnobs
}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {} }

/** Validates a Config and fills in defaults. */
export function resolveConfig(c: Config): ResolvedConfig {
  assert(c.id !== '', 'cannot use "" as id')
  const r: ResolvedConfig = {
    id: c.id,
    peers: c.peers ?? [],
    learners: c.learners ?? [],
    electionTicks: c.electionTicks ?? 10,
    heartbeatTicks: c.heartbeatTicks ?? 1,
    storage: c.storage,
    applied: c.applied ?? 0,
    maxSizePerMsg: c.maxSizePerMsg ?? 1024 * 1024,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? Number.MAX_SAFE_INTEGER,
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize ?? 0,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 0,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    rng: c.rng,
    logger: c.logger ?? silentLogger,
    unsafeTestingKnobs: c.unsafeTestingKnobs ?? {},
  }
  assert(r.heartbeatTicks > 0, 'heartbeat tick must be greater than 0')
  assert(r.electionTicks > r.heartbeatTicks, 'election tick must be greater than heartbeat tick')
  assert(r.maxInflightMsgs > 0, 'max inflight messages must be greater than 0')
  return r
}
