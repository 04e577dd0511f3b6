// The Ready loop (DESIGN.md §5): after every event fed to the raft core, take its Ready and
// 1. persist hard state, entries and snapshot, and apply committed entries, in ONE transaction;
// 2. send messages (the Durable Object's output gate also holds them until storage is durable);
// 3. answer waiting clients;
// 4. advance the core.
import type { ConfChange, ReadState, SoftState } from '../raft/types.ts'
import { isEmptySnapshot } from '../raft/types.ts'
import type { Message } from '../raft/messages.ts'
import type { RawNode } from '../raft/raw-node.ts'
import type { SqlRaftStorage } from './raft-storage.ts'
import type { ApplyResult, StateMachine } from './state-machine.ts'

/** What the loop needs from its member. */
export interface ReadyLoopDeps {
  node: RawNode
  storage: SqlRaftStorage
  machine: StateMachine
  /** Runs `fn` in one storage transaction (the Durable Object's `transactionSync`). */
  transaction<T>(fn: () => T): T
  /** Sends messages to peers without waiting for them. */
  send(messages: Message[]): void
  /** Applied proposals, to wake their waiters. */
  onApplied(results: ApplyResult[]): void
  /** Confirmed read indexes, and the applied index they may now be compared with. */
  onReadStates(readStates: ReadState[], appliedIndex: number): void
  /** Leader or role changed. */
  onSoftState(softState: SoftState): void
  /** Entries (or a snapshot) were applied: the state machine moved on (watchers look). */
  afterApply(): void
  /** Compact the raft log once this many entries were applied since the last compaction. */
  snapshotCount: number
  /** Entries kept behind the applied index at compaction, so slow followers catch up from the log. */
  catchUpEntries: number
}

/** Drives one member's raft node: call `run()` after every tick, step or proposal. */
export class ReadyLoop {
  constructor(private readonly deps: ReadyLoopDeps) {}

  /** Handles every pending Ready. Throws (and the member stops) if storage fails. */
  run(): void {
    const { node } = this.deps
    while (node.hasReady()) {
      const rd = node.ready()
      // Most Readies of an idle or read-only cluster carry only messages (heartbeats, read
      // index): no transaction for them.
      const writes =
        rd.entries.length > 0 ||
        rd.hardState !== undefined ||
        rd.snapshot !== undefined ||
        rd.committedEntries.length > 0
      const results = writes ? this.persistAndApplyOnce(rd) : []
      this.deps.send(rd.messages)
      if (rd.softState) this.deps.onSoftState(rd.softState)
      if (results.length > 0) this.deps.onApplied(results)
      if (rd.committedEntries.length > 0 || rd.snapshot) this.deps.afterApply()
      this.deps.onReadStates(rd.readStates, this.deps.machine.appliedIndex())
      node.advance()
    }
  }

  /** One transaction; if it rolls back, the state machine forgets what it cached of it. */
  private persistAndApplyOnce(rd: ReturnType<RawNode['ready']>): ApplyResult[] {
    try {
      return this.deps.transaction(() => this.persistAndApply(rd))
    } catch (e) {
      this.deps.machine.afterRollback?.()
      throw e
    }
  }

  private persistAndApply(rd: ReturnType<RawNode['ready']>): ApplyResult[] {
    const { storage, machine, node } = this.deps
    if (rd.snapshot && !isEmptySnapshot(rd.snapshot)) {
      storage.applySnapshot(rd.snapshot)
      machine.restore(rd.snapshot.data, rd.snapshot.metadata.index)
    }
    storage.append(rd.entries)
    if (rd.hardState) storage.setHardState(rd.hardState)

    const results: ApplyResult[] = []
    machine.beginApply?.()
    for (const entry of rd.committedEntries) {
      // Invariant: entries are applied once, in order. A restored snapshot may cover some.
      if (entry.index <= machine.appliedIndex()) continue
      if (entry.type === 'confChange') {
        const cc = JSON.parse(entry.data) as ConfChange
        storage.setConfState(node.applyConfChange(cc))
        const result = machine.applyConfChange?.(entry, cc)
        if (result) results.push(result)
        else if (!machine.applyConfChange) machine.skip(entry.index)
      } else {
        const result = machine.apply(entry)
        if (result) results.push(result)
      }
    }
    machine.endApply?.()
    this.maybeCompact()
    return results
  }

  /** etcd --snapshot-count: keep the raft log short; followers behind it get a snapshot. */
  private maybeCompact(): void {
    const { storage, machine, snapshotCount, catchUpEntries } = this.deps
    const applied = machine.appliedIndex()
    if (applied - (storage.firstIndex() - 1) <= snapshotCount + catchUpEntries) return
    storage.compact(applied - catchUpEntries)
  }
}
