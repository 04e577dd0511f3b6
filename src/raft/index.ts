// The public API of the raft core. Import from here, not from the individual files.

export type { Config, Logger, UnsafeTestingKnobs } from './config.ts'
export { silentLogger } from './config.ts'
export {
  assert,
  assertNever,
  CompactedError,
  ProposalDroppedError,
  RaftError,
  RaftInvariantError,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from './errors.ts'
export type { Message, MessageType } from './messages.ts'
export { isLocalMsg, isResponseMsg, newMessage } from './messages.ts'
export type { ProgressState } from './progress.ts'
export type { Rng } from './rng.ts'
export { createRng, Xoshiro128 } from './rng.ts'
export type { ProgressStatus, SnapshotStatus, Status } from './raw-node.ts'
export { RawNode } from './raw-node.ts'
export type { Storage } from './storage.ts'
export { entrySize, limitSize, MemoryStorage } from './storage.ts'
export type {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  NodeId,
  ReadState,
  Ready,
  Snapshot,
  SnapshotMetadata,
  SoftState,
  StateType,
} from './types.ts'
export {
  emptyHardState,
  emptySnapshot,
  isEmptyHardState,
  isEmptySnapshot,
  isHardStateEqual,
  NONE,
} from './types.ts'
export {
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
} from './describe.ts'
