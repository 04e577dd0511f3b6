// etcd's Cluster service on the leader: the checks etcd makes before a membership change
// (etcdserver/server.go mayAddMember, mayRemoveMember, mayPromoteMember, isLearnerReady, and
// api/membership ValidateConfigurationChange), then one raft conf change, answered once applied.
// The Durable Object (member.ts) forwards here; a follower forwards to its leader first.
import type { EtcdErrors } from '../api/errors.ts'
import type { ConfChange, Status } from '../raft/index.ts'
import { fnv1a64 } from './identity.ts'
import {
  addedObjectName,
  nameFromPeerUrl,
  parsePeerUrls,
  type MemberChangeContext,
  type MemberRecord,
} from './membership.ts'

/** A membership request as the front door sends it (etcd's MemberAdd/Remove/Update/Promote). */
export type MemberRequest =
  | { op: 'add'; requestId: string; peerUrls: string[]; isLearner: boolean }
  | { op: 'remove'; requestId: string; id: string }
  | { op: 'update'; requestId: string; id: string; peerUrls: string[] }
  | { op: 'promote'; requestId: string; id: string }

/** The answer: the changed member (add) and the membership after the change, or an etcd error. */
export type MemberChangeReply =
  | { ok: true; member?: MemberRecord; members: MemberRecord[] }
  | { ok: false; etcdError: keyof typeof EtcdErrors }

/** etcd's HealthInterval: a peer not heard from for this long counts as down. */
export const HEALTH_INTERVAL_MS = 5_000
/** etcd 3.4: at most one learner. */
export const MAX_LEARNERS = 1
/** etcd's readyPercent: a learner is in sync when its match is ≥ 90 % of the leader's. */
const LEARNER_READY_PERCENT = 0.9

/** What the checks read from the leader. */
export interface LeaderView {
  clusterName: string
  selfId: string
  members: MemberRecord[]
  raft: Status
  /** Whether a message batch to `id` was delivered within HEALTH_INTERVAL_MS. */
  active(id: string): boolean
}

type Failure = { ok: false; etcdError: keyof typeof EtcdErrors }
const fail = (etcdError: keyof typeof EtcdErrors): Failure => ({ ok: false, etcdError })

/**
 * The ID of an added member: derived from the request id, so a retried add (same request id)
 * proposes the same member and applies at most once. Never 0, never an existing member's.
 */
export function newMemberId(requestId: string, taken: ReadonlySet<string>): string {
  for (let salt = 0; ; salt++) {
    const id = fnv1a64(`member-add/${requestId}/${salt}`)
    if (id !== 0n && !taken.has(id.toString())) return id.toString()
  }
}

/**
 * Checks a request against the cluster as the leader sees it and builds the conf change, or
 * returns etcd's error. Order as etcd: the quorum and health checks of may*Member first, then
 * the validation etcd does when the change is applied.
 */
export function planChange(
  view: LeaderView,
  request: MemberRequest,
): { cc: ConfChange; member?: MemberRecord } | Failure {
  const byId = new Map(view.members.map((m) => [m.id, m]))
  switch (request.op) {
    case 'add': {
      const peerUrls = parsePeerUrls(request.peerUrls)
      if (!peerUrls) return fail('MemberBadURLs')
      if (!request.isLearner && !readyToAddVoter(view)) return fail('MemberNotEnoughStarted')
      if (!connectedToAllVoters(view)) return fail('Unhealthy')
      // (etcd 3.4 says "member ID already exist" instead when the very same URLs are added
      // again within the same second: its new ID hashes the URLs and the time. Not mirrored.)
      const taken = new Set(view.members.flatMap((m) => m.peerUrls))
      if (peerUrls.some((u) => taken.has(u))) return fail('PeerURLExist')
      if (request.isLearner && view.members.filter((m) => m.isLearner).length >= MAX_LEARNERS) {
        return fail('TooManyLearners')
      }
      const id = newMemberId(request.requestId, new Set(byId.keys()))
      const name = nameFromPeerUrl(peerUrls[0]!)
      const member: MemberRecord = {
        id,
        name,
        peerUrls,
        objectName: addedObjectName(view.clusterName, name, id),
        isLearner: request.isLearner,
      }
      const context: MemberChangeContext = {
        requestId: request.requestId,
        name,
        peerUrls,
        objectName: member.objectName,
      }
      return {
        cc: {
          type: request.isLearner ? 'addLearner' : 'addNode',
          nodeId: id,
          context: JSON.stringify(context),
        },
        member,
      }
    }
    case 'remove': {
      const target = byId.get(request.id)
      if (target && !target.isLearner) {
        if (!readyToRemoveVoter(view, request.id)) return fail('MemberNotEnoughStarted')
        // A member that is down is safe to remove; otherwise the rest must keep a quorum.
        const voters = view.members.filter((m) => !m.isLearner)
        const active = voters.filter((m) => m.id === view.selfId || view.active(m.id)).length
        const targetDown = request.id !== view.selfId && !view.active(request.id)
        if (!targetDown && active - 1 < 1 + Math.floor((voters.length - 1) / 2)) {
          return fail('Unhealthy')
        }
      }
      if (!target) return fail('MemberNotFound')
      return { cc: { type: 'removeNode', nodeId: request.id, context: ctx(request.requestId) } }
    }
    case 'update': {
      const peerUrls = parsePeerUrls(request.peerUrls)
      if (!peerUrls) return fail('MemberBadURLs')
      if (!byId.has(request.id)) return fail('MemberNotFound')
      const taken = new Set(
        view.members.filter((m) => m.id !== request.id).flatMap((m) => m.peerUrls),
      )
      if (peerUrls.some((u) => taken.has(u))) return fail('PeerURLExist')
      const context: MemberChangeContext = { requestId: request.requestId, peerUrls }
      return { cc: { type: 'updateNode', nodeId: request.id, context: JSON.stringify(context) } }
    }
    case 'promote': {
      if (!learnerReady(view, request.id)) return fail('LearnerNotReady')
      const target = byId.get(request.id)
      if (target?.isLearner && !readyToPromote(view, request.id)) {
        return fail('MemberNotEnoughStarted')
      }
      if (!target) return fail('MemberNotFound')
      if (!target.isLearner) return fail('MemberNotLearner')
      return {
        cc: { type: 'promoteLearner', nodeId: request.id, context: ctx(request.requestId) },
      }
    }
  }
}

function ctx(requestId: string): string {
  const context: MemberChangeContext = { requestId }
  return JSON.stringify(context)
}

/** A voter counts as started when the leader heard from it recently (or is the leader). */
function startedVoters(view: LeaderView, except?: string): { members: number; started: number } {
  const voters = view.members.filter((m) => !m.isLearner && m.id !== except)
  const started = voters.filter((m) => m.id === view.selfId || view.active(m.id)).length
  return { members: voters.length, started }
}

/** etcd IsReadyToAddVotingMember: after the add, the started voters still make a quorum. */
function readyToAddVoter(view: LeaderView): boolean {
  const { members, started } = startedVoters(view)
  const after = members + 1
  // Adding a second member to a one-member cluster is allowed (restoring a cluster).
  if (started === 1 && after === 2) return true
  return started >= Math.floor(after / 2) + 1
}

/** etcd IsReadyToRemoveVotingMember: the started voters left still make a quorum. */
function readyToRemoveVoter(view: LeaderView, id: string): boolean {
  const { members, started } = startedVoters(view, id)
  return started >= Math.floor(members / 2) + 1
}

/** etcd IsReadyToPromoteMember: with the learner as a voter, the started voters are a quorum. */
function readyToPromote(view: LeaderView, id: string): boolean {
  const { members, started } = startedVoters(view)
  const promoted = view.active(id) ? 1 : 0
  return started + promoted >= Math.floor((members + 1) / 2) + 1
}

/** etcd isConnectedFullySince: the leader heard from every other voter recently. */
function connectedToAllVoters(view: LeaderView): boolean {
  return view.members
    .filter((m) => !m.isLearner && m.id !== view.selfId)
    .every((m) => view.active(m.id))
}

/** etcd isLearnerReady: the learner's match is at least 90 % of the leader's. */
function learnerReady(view: LeaderView, id: string): boolean {
  const progress = view.raft.progress
  const learner = progress?.[id]
  if (!learner) return true
  const leaderMatch = progress?.[view.selfId]?.match ?? 0
  return learner.match >= leaderMatch * LEARNER_READY_PERCENT
}
