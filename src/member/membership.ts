// Cluster membership as replicated state (migrations/0005_membership.sql): who the members are
// (ids, names, peer URLs, learner flag) and which Durable Object each one is. INITIAL_CLUSTER
// only bootstraps it; afterwards it changes only when a raft conf-change entry is applied, so
// every member holds the same rows at the same applied index (etcd api/membership's RaftCluster).
//
// What a peer URL means here: it names the member's Durable Object. The member's name is the
// URL's host (`http://m4:2380` → `m4`); a bootstrap member `m1` has `http://m1:2380` and lives
// in object `<cluster>/m1`; an added member lives in a fresh object `<cluster>/<name>/<id>`, so
// every add (also re-adding a removed member's URL) starts from empty storage.
import type { Sql } from '../mvcc/sql.ts'
import type { ConfChange } from '../raft/types.ts'
import { memberObjectName } from './identity.ts'

/** One member as the replicated membership records it. */
export interface MemberRecord {
  /** uint64 decimal. */
  id: string
  name: string
  /** Sorted, as etcd keeps them. */
  peerUrls: string[]
  /** The member's Durable Object name. */
  objectName: string
  isLearner: boolean
}

/** What an add / update conf change carries in `context` (JSON). */
export interface MemberChangeContext {
  /** The proposer's request id: its waiter, and at-most-once apply of a retried change. */
  requestId: string
  name?: string
  peerUrls?: string[]
  objectName?: string
}

/** The outcome of applying a conf change, for whoever proposed it. */
export interface MemberChangeOutcome {
  /** False when the change was a no-op (e.g. promoting a member that is not a learner). */
  applied: boolean
}

/** etcd's default peer port: bootstrap members are `http://<name>:2380`. */
export const DEFAULT_PEER_PORT = 2380

/** The peer URL of a bootstrap (INITIAL_CLUSTER) member. */
export function bootstrapPeerUrl(name: string): string {
  return `http://${name}:${DEFAULT_PEER_PORT}`
}

/**
 * Validates peer URLs as etcd's types.NewURLs does (scheme http/https/unix/unixs, host:port
 * for http(s), no path) and returns them sorted; undefined when any is invalid.
 */
export function parsePeerUrls(urls: string[]): string[] | undefined {
  if (urls.length === 0) return undefined
  for (const u of urls) {
    const m = /^(https?|unixs?):\/\/([^/?#]+)$/.exec(u)
    if (!m) return undefined
    if ((m[1] === 'http' || m[1] === 'https') && !/:[0-9]+$/.test(m[2]!)) return undefined
  }
  return [...urls].sort()
}

/** The member name a peer URL stands for: its host, without the port. */
export function nameFromPeerUrl(url: string): string {
  const host = url.replace(/^[a-z]+:\/\//, '')
  const bracketed = /^\[([^\]]+)\]/.exec(host)
  if (bracketed) return bracketed[1]!.replace(/:/g, '-')
  return host.replace(/:[0-9]+$/, '')
}

/** The Durable Object of an added member: a fresh one for every add. */
export function addedObjectName(clusterName: string, name: string, id: string): string {
  return `${memberObjectName(clusterName, name)}/${id}`
}

interface MemberRow {
  id: string
  name: string
  peer_urls: string
  object_name: string
  is_learner: number
}

/** The membership table of one member. */
export class Membership {
  constructor(
    private readonly sql: Sql,
    private readonly clusterName: string,
    /** INITIAL_CLUSTER: id → name, for the bootstrap conf changes (they carry no context). */
    private readonly bootstrapNames: ReadonlyMap<string, string>,
  ) {}

  /** Every member, in the order they were added. */
  list(): MemberRecord[] {
    const rows = this.sql
      .exec(
        'SELECT id, name, peer_urls, object_name, is_learner FROM cluster_members ' +
          'ORDER BY added_index, id',
      )
      .toArray() as unknown as MemberRow[]
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      peerUrls: JSON.parse(r.peer_urls) as string[],
      objectName: r.object_name,
      isLearner: r.is_learner === 1,
    }))
  }

  get(id: string): MemberRecord | undefined {
    return this.list().find((m) => m.id === id)
  }

  /**
   * Applies a committed conf change to the table, mirroring what the raft core does with it
   * (raft.ts applyConfChange): the table and raft's configuration never disagree.
   */
  applyConfChange(cc: ConfChange, index: number): MemberChangeOutcome {
    const ctx = cc.context ? (JSON.parse(cc.context) as MemberChangeContext) : undefined
    const existing = this.get(cc.nodeId)
    switch (cc.type) {
      case 'addNode':
      case 'addLearner': {
        const learner = cc.type === 'addLearner'
        if (existing) {
          // raft: addNode makes a learner a voter; addLearner leaves a voter alone.
          if (learner || !existing.isLearner) return { applied: false }
          this.sql.exec('UPDATE cluster_members SET is_learner = 0 WHERE id = ?', cc.nodeId)
          return { applied: true }
        }
        const name = ctx?.name ?? this.bootstrapNames.get(cc.nodeId) ?? ''
        this.sql.exec(
          'INSERT INTO cluster_members (id, name, peer_urls, object_name, is_learner, added_index) ' +
            'VALUES (?, ?, ?, ?, ?, ?)',
          cc.nodeId,
          name,
          JSON.stringify(ctx?.peerUrls ?? [bootstrapPeerUrl(name)]),
          ctx?.objectName ?? memberObjectName(this.clusterName, name),
          learner ? 1 : 0,
          index,
        )
        return { applied: true }
      }
      case 'promoteLearner':
        if (!existing?.isLearner) return { applied: false }
        this.sql.exec('UPDATE cluster_members SET is_learner = 0 WHERE id = ?', cc.nodeId)
        return { applied: true }
      case 'removeNode': {
        if (!existing) return { applied: false }
        const voters = this.list().filter((m) => !m.isLearner).length
        // raft keeps the last voter.
        if (!existing.isLearner && voters === 1) return { applied: false }
        this.sql.exec('DELETE FROM cluster_members WHERE id = ?', cc.nodeId)
        return { applied: true }
      }
      case 'updateNode':
        if (!existing || !ctx?.peerUrls) return { applied: false }
        this.sql.exec(
          'UPDATE cluster_members SET peer_urls = ? WHERE id = ?',
          JSON.stringify(ctx.peerUrls),
          cc.nodeId,
        )
        return { applied: true }
    }
  }

  /**
   * A member whose storage predates the membership table (migration 0005) knows its members
   * only from raft's configuration; they were all INITIAL_CLUSTER members then. Fills the table
   * from it, the same way on every member. No-op once the table has rows.
   */
  seedFromConfState(voters: string[], learners: string[], index: number): void {
    if (this.sql.exec('SELECT 1 FROM cluster_members LIMIT 1').toArray().length > 0) return
    for (const [ids, type] of [
      [voters, 'addNode'],
      [learners, 'addLearner'],
    ] as const) {
      for (const nodeId of ids) {
        if (this.bootstrapNames.has(nodeId)) this.applyConfChange({ type, nodeId }, index)
      }
    }
  }

  /** Replaces the whole membership by `members` (disaster recovery: force-new-cluster). */
  replaceWith(members: MemberRecord[], index: number): void {
    this.sql.exec('DELETE FROM cluster_members')
    for (const m of members) {
      this.sql.exec(
        'INSERT INTO cluster_members (id, name, peer_urls, object_name, is_learner, added_index) ' +
          'VALUES (?, ?, ?, ?, ?, ?)',
        m.id,
        m.name,
        JSON.stringify(m.peerUrls),
        m.objectName,
        m.isLearner ? 1 : 0,
        index,
      )
    }
  }
}

/** The request id a conf change was proposed under, if any (bootstrap changes have none). */
export function requestIdOf(cc: ConfChange): string | undefined {
  if (!cc.context) return undefined
  return (JSON.parse(cc.context) as MemberChangeContext).requestId
}

/**
 * Applies a conf change to the membership table at most once per request id: a retried change
 * (same id, e.g. after a leader change) gets the first outcome again. The outcome is kept with
 * the KV answers (member_requests) and pruned with them.
 */
export function applyMemberChange(
  sql: Sql,
  membership: Membership,
  cc: ConfChange,
  index: number,
): { requestId: string; value: MemberChangeOutcome } | undefined {
  const requestId = requestIdOf(cc)
  if (requestId === undefined) {
    membership.applyConfChange(cc, index)
    return undefined
  }
  const seen = sql
    .exec('SELECT response FROM member_requests WHERE request_id = ?', requestId)
    .toArray()[0]
  if (seen) return { requestId, value: JSON.parse(String(seen['response'])) as MemberChangeOutcome }
  const outcome = membership.applyConfChange(cc, index)
  sql.exec(
    'INSERT INTO member_requests (request_id, applied_index, response) VALUES (?, ?, ?)',
    requestId,
    index,
    JSON.stringify(outcome),
  )
  return { requestId, value: outcome }
}
