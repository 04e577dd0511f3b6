// ReadIndex bookkeeping (Raft thesis §6.4; etcd read_only.go). A read request is queued with
// the commit index at the time the leader received it; the leader then sends a heartbeat round
// carrying the request's ctx. Once a majority acknowledges a heartbeat for some ctx, that
// request *and every request queued before it* are confirmed: one round serves a whole batch.

import type { Message } from './messages.ts'
import { voteResult } from './quorum.ts'
import type { NodeId } from './types.ts'

/** A read request waiting for leadership confirmation. */
export interface ReadIndexStatus {
  /** The original request (MsgReadIndex, from a follower or from the leader itself). */
  req: Message
  /** The leader's commit index when the request arrived: the read index. */
  index: number
  /** Voters that acknowledged a heartbeat carrying this ctx (or a later one). */
  acks: Set<NodeId>
}

/** Pending ReadIndex requests, in arrival order. */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>()
  private queue: string[] = []

  /** Queues a read request with its read index; duplicate ctxs are ignored. */
  addRequest(index: number, req: Message, ctx: string): void {
    if (this.pending.has(ctx)) return
    this.pending.set(ctx, { req, index, acks: new Set() })
    this.queue.push(ctx)
  }

  /** Records a heartbeat acknowledgement for `ctx`. */
  recvAck(id: NodeId, ctx: string): void {
    this.pending.get(ctx)?.acks.add(id)
  }

  /**
   * If a quorum of `voters` acknowledged `ctx`, dequeues and returns every request up to and
   * including it (earlier requests are confirmed by the same round).
   */
  advance(ctx: string, voters: readonly NodeId[]): ReadIndexStatus[] {
    const rs = this.pending.get(ctx)
    if (!rs) return []
    if (voteResult(voters, (id) => (rs.acks.has(id) ? true : undefined)) !== 'won') return []
    const i = this.queue.indexOf(ctx)
    const done = this.queue.slice(0, i + 1)
    this.queue = this.queue.slice(i + 1)
    const out: ReadIndexStatus[] = []
    for (const c of done) {
      const s = this.pending.get(c)
      if (s) out.push(s)
      this.pending.delete(c)
    }
    return out
  }

  /** The ctx of the most recently queued request, if any. */
  lastPendingRequestCtx(): string | undefined {
    return this.queue[this.queue.length - 1]
  }

  size(): number {
    return this.queue.length
  }

  reset(): void {
    this.pending.clear()
    this.queue = []
  }
}
