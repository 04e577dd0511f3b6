// Plain-data types shared by the raft core and its users. Everything here is
// JSON-serializable: no classes, Maps or bigints (the member sends and stores them as JSON).

import type { Message } from './messages.ts'

/** A node id. Member ids are uint64 decimal strings derived from member names. */
export type NodeId = string

/** "No node": used for `lead` when there is no known leader and `vote` when none was cast. */
export const NONE: NodeId = ''

/** The kind of a log entry. `confChange` entries carry a JSON-encoded `ConfChange`. */
export type EntryType = 'normal' | 'confChange'

/**
 * One log entry. `data` is opaque to raft. An empty normal entry (`data: ''`) is the no-op a new
 * leader appends on election (Raft thesis §6.4 / paper §8) and should be skipped when applying.
 */
export interface Entry {
  term: number
  index: number
  type: EntryType
  data: string
}

/** State that must be durable before messages are sent (Raft paper Figure 2: currentTerm, votedFor). */
export interface HardState {
  term: number
  vote: NodeId
  commit: number
}

/** The membership: voters count toward quorums, learners only receive the log. */
export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

/** Describes the point in the log a snapshot replaces. */
export interface SnapshotMetadata {
  index: number
  term: number
  confState: ConfState
}

/** A snapshot of the application state up to `metadata.index`. `data` is opaque to raft. */
export interface Snapshot {
  metadata: SnapshotMetadata
  data: string
}

/**
 * The kinds of single-step membership change (one at a time, etcd ConfChange v1 semantics).
 * `updateNode` changes only the member's attributes in `context` (etcd ConfChangeUpdateNode).
 */
export type ConfChangeType =
  'addNode' | 'removeNode' | 'addLearner' | 'promoteLearner' | 'updateNode'

/**
 * A membership change, carried JSON-encoded in the `data` of a `confChange` entry and applied
 * with `RawNode.applyConfChange` once that entry is committed. `context` is opaque (the member
 * puts the peer URLs there).
 */
export interface ConfChange {
  type: ConfChangeType
  nodeId: NodeId
  context?: string
}

/** The role of a node. `preCandidate` is the pre-vote phase (Raft thesis §9.6). */
export type StateType = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** Volatile state that is useful to observe but need not be persisted. */
export interface SoftState {
  lead: NodeId
  state: StateType
}

/**
 * The answer to a `readIndex(ctx)` request: once the node has applied up to `index`, a read of
 * the state machine is linearizable (Raft thesis §6.4). `ctx` identifies the request.
 */
export interface ReadState {
  index: number
  ctx: string
}

/**
 * Everything the shell must do after a batch of input, in this order (etcd's Ready contract):
 * 1. persist `hardState`, `entries` and `snapshot` atomically (fsync when `mustSync`);
 * 2. send `messages`;
 * 3. apply `snapshot` (if any) then `committedEntries` to the state machine;
 * 4. call `advance()`.
 * `readStates` may be served once `applied >= readState.index`.
 */
export interface Ready {
  /** Set when lead or role changed since the last Ready. */
  softState?: SoftState
  /** Set when term, vote or commit changed since the last Ready. */
  hardState?: HardState
  /** Linearizable read indexes confirmed since the last Ready. */
  readStates: ReadState[]
  /** Entries to append to stable storage (may overwrite a conflicting suffix). */
  entries: Entry[]
  /** A snapshot to persist and apply (it replaces the log up to its index). */
  snapshot?: Snapshot
  /** Committed entries to apply, in order; already persisted or in `entries` above. */
  committedEntries: Entry[]
  /** Messages to send after the persist. */
  messages: Message[]
  /** Whether the persist must be synchronous (term/vote changed or entries appended). */
  mustSync: boolean
}

/** A well-known empty hard state. */
export function emptyHardState(): HardState {
  return { term: 0, vote: NONE, commit: 0 }
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0
}

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** An empty snapshot (index 0) — what a fresh storage holds. */
export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: '' }
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0
}
