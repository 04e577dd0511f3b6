// Raft messages as plain JSON objects (they travel between members as JSON over fetch).
// Names and fields follow etcd's raftpb.Message so code, tests and the thesis line up.

import type { Entry, NodeId, Snapshot } from './types.ts'

/** Every message type. The first group never leaves a node (see `isLocalMsg`). */
export type MessageType =
  // Local: produced by tick()/campaign()/report*() and stepped into the node itself.
  | 'MsgHup' // start an election (campaign)
  | 'MsgBeat' // leader: time to send heartbeats
  | 'MsgCheckQuorum' // leader: verify a quorum was active during the last election timeout
  | 'MsgUnreachable' // the shell failed to deliver to `from`
  | 'MsgSnapStatus' // the shell finished (or failed, `reject`) sending a snapshot to `from`
  // Network.
  | 'MsgProp' // a proposal forwarded to the leader
  | 'MsgApp' // AppendEntries
  | 'MsgAppResp'
  | 'MsgVote' // RequestVote
  | 'MsgVoteResp'
  | 'MsgPreVote' // pre-vote (Raft thesis §9.6): would you vote for me at term+1?
  | 'MsgPreVoteResp'
  | 'MsgSnap' // InstallSnapshot
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgTransferLeader' // ask the leader to hand leadership to `from`
  | 'MsgTimeoutNow' // leader → transferee: campaign now, ignoring the election timeout
  | 'MsgReadIndex' // follower → leader: confirm a read index for `context`
  | 'MsgReadIndexResp'

/**
 * One raft message. All fields are present (zero values when unused) except `snapshot` and
 * `context`, so the object round-trips through JSON unchanged.
 *
 * Field use by type (as in etcd):
 * - MsgApp: `index`/`logTerm` identify the entry preceding `entries`; `commit` is the leader's.
 * - MsgAppResp: `index` is the last matching index (or the rejected index with `reject`), and on
 *   reject `rejectHint`/`logTerm` give the follower's hint for fast backtracking.
 * - MsgVote/MsgPreVote: `index`/`logTerm` describe the candidate's last entry; `context` is
 *   'transfer' when the election is a leadership transfer.
 * - MsgHeartbeat: `commit` is min(leader commit, follower match); `context` carries a read-index
 *   round id.
 * - MsgReadIndex/MsgReadIndexResp: `context` is the read's ctx; `index` the read index.
 */
export interface Message {
  type: MessageType
  from: NodeId
  to: NodeId
  term: number
  logTerm: number
  index: number
  entries: Entry[]
  commit: number
  reject: boolean
  rejectHint: number
  snapshot?: Snapshot
  context?: string
}

/** Builds a message with zero values for every field not given. */
export function newMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: '',
    to: '',
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  }
}

/** Messages that are only ever stepped locally and must never be sent or received. */
export function isLocalMsg(t: MessageType): boolean {
  return (
    t === 'MsgHup' ||
    t === 'MsgBeat' ||
    t === 'MsgCheckQuorum' ||
    t === 'MsgUnreachable' ||
    t === 'MsgSnapStatus'
  )
}

/** Responses: stepping one into a node that does not know `from` is ignored (etcd `IsResponseMsg`). */
export function isResponseMsg(t: MessageType): boolean {
  return (
    t === 'MsgAppResp' ||
    t === 'MsgVoteResp' ||
    t === 'MsgHeartbeatResp' ||
    t === 'MsgUnreachable' ||
    t === 'MsgPreVoteResp' ||
    t === 'MsgReadIndexResp'
  )
}

/** The response type for a vote request type. */
export function voteRespMsgType(t: 'MsgVote' | 'MsgPreVote'): 'MsgVoteResp' | 'MsgPreVoteResp' {
  return t === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp'
}

/** Context marking a vote request that is part of a leadership transfer (etcd campaignTransfer). */
export const CAMPAIGN_TRANSFER = 'transfer'
