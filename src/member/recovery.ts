// Backup, restore and disaster recovery on the member: a consistent snapshot of the store
// (etcd's Maintenance.Snapshot), a restore into a fresh cluster through raft (restore.ts), and
// force-new-cluster from the surviving member's data. Uses the same hooks as member-shell.ts.
import type { MemberRecord } from './membership.ts'
import { exportState } from './kv-snapshot.ts'
import type { ShellHooks } from './member-shell.ts'
import { restoreEntries, type RestoreOutcome } from './restore.ts'

/** A snapshot of the whole store as saved (the bytes of `/v3/maintenance/snapshot`). */
export interface SavedSnapshot {
  data: string
  revision: number
  raftTerm: number
  memberId: string
}

/** How long a restore may take to be applied on every member. */
export const RESTORE_TIMEOUT_MS = 120_000

/** Backup, restore and force-new-cluster for one member. */
export class Recovery {
  constructor(private readonly hooks: ShellHooks) {}

  /**
   * A consistent point-in-time copy of the whole store (etcd's Maintenance.Snapshot): taken in
   * one synchronous read after a linearizable barrier, so it holds every acknowledged write.
   */
  async snapshotSave(): Promise<SavedSnapshot> {
    const core = this.hooks.core()!
    await core.linearizableBarrier()
    const machine = this.hooks.machine()!
    return {
      data: exportState(this.hooks.sql),
      revision: machine.currentRevision(),
      raftTerm: core.status().term,
      memberId: this.hooks.self()!.id,
    }
  }

  /**
   * Restores a saved snapshot into this (fresh) cluster through raft, so every member applies
   * the same state at the same index. Refused (FAILED_PRECONDITION) unless the store is fresh.
   */
  async restore(requestId: string, data: string): Promise<RestoreOutcome> {
    const core = this.hooks.core()!
    // A whole store in one entry: persisted, sent to every member and applied by each, which
    // takes longer than a KV request may; the front door keeps the request open meanwhile.
    const chunks = restoreEntries(requestId, data)
    // The last chunk's waiter is the request's; the others have ids of their own.
    const pending = core.propose(
      chunks.map((chunk, seq) => ({
        requestId: seq === chunks.length - 1 ? requestId : `${requestId}/${seq}`,
        data: chunk,
      })),
      RESTORE_TIMEOUT_MS,
    )
    for (const p of pending.slice(0, -1)) p.catch(() => undefined)
    const applied = await pending[pending.length - 1]!
    return applied.value as RestoreOutcome
  }

  /**
   * Disaster recovery (etcd --force-new-cluster): this member keeps its data and becomes the
   * only voter of its cluster. Everything in its log is committed first (as etcd does), then the
   * configuration is rewritten to itself alone and the core restarts; it elects itself at once.
   * Runs once per `token` (the FORCE_NEW_CLUSTER value).
   */
  forceNewCluster(token: string): boolean {
    const sql = this.hooks.sql
    const done = sql.exec('SELECT 1 FROM member_forced WHERE token = ?', token).toArray()
    if (done.length > 0) return false
    const self = this.hooks.self()!
    this.hooks.transaction(() => {
      sql.exec(
        'UPDATE raft_hard_state SET commit_index = (SELECT COALESCE(MAX(idx), commit_index) FROM raft_entries), vote = ?',
        '',
      )
    })
    // Reboot applies the newly committed tail; then the configuration becomes us alone.
    this.hooks.reboot()
    const me = this.hooks.membership()!.get(self.id)
    const applied = this.hooks.machine()!.appliedIndex()
    this.hooks.transaction(() => {
      const row = sql.exec('SELECT idx, term FROM raft_snapshot WHERE id = 1').toArray()[0] as
        { idx: number; term: number } | undefined
      const confState = JSON.stringify({ voters: [self.id], learners: [] })
      sql.exec(
        'INSERT INTO raft_snapshot (id, idx, term, conf_state) VALUES (1, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET conf_state = excluded.conf_state',
        row?.idx ?? 0,
        row?.term ?? 0,
        confState,
      )
      this.hooks
        .membership()!
        .replaceWith([me ? { ...me, isLearner: false } : selfRecord(self, this.hooks)], applied)
      sql.exec('INSERT INTO member_forced (token, forced_at_ms) VALUES (?, ?)', token, Date.now())
    })
    this.hooks.reboot()
    return true
  }
}

function selfRecord(self: { name: string; id: string }, hooks: ShellHooks): MemberRecord {
  return {
    id: self.id,
    name: self.name,
    peerUrls: [`http://${self.name}:2380`],
    objectName: `${hooks.clusterName}/${self.name}`,
    isLearner: false,
  }
}
