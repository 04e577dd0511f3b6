// Sends raft messages to peers over Durable Object RPC. All messages for one peer that are
// ready together travel in one call; while a call to a peer is in flight, new messages for it
// wait and then go together in the next call, so the leader never blocks on a slow or dead
// follower and a fast one gets large batches. A failed call is a dropped message: raft retries.
import type { Message } from '../raft/messages.ts'
import type { NodeId } from '../raft/types.ts'

/** How to reach one peer: deliver a batch of messages, resolving when it was accepted. */
export type Deliver = (to: NodeId, messages: Message[]) => Promise<void>

/** Messages queued per peer beyond this are dropped (raft resends what matters). */
const MAX_QUEUED_PER_PEER = 4096

/** A per-peer batching sender. */
export class Transport {
  private readonly queued = new Map<NodeId, Message[]>()
  private readonly inFlight = new Set<NodeId>()

  constructor(
    private readonly deliver: Deliver,
    /** Called with each batch once delivered (`ok`) or failed (raft hears of both). */
    private readonly onDelivered: (to: NodeId, messages: Message[], ok: boolean) => void,
  ) {}

  /** Queues messages for sending; returns at once. */
  send(messages: Message[]): void {
    for (const m of messages) {
      const queue = this.queued.get(m.to) ?? []
      if (queue.length < MAX_QUEUED_PER_PEER) queue.push(m)
      this.queued.set(m.to, queue)
    }
    for (const to of this.queued.keys()) this.flush(to)
  }

  private flush(to: NodeId): void {
    if (this.inFlight.has(to)) return
    const batch = this.queued.get(to)
    if (!batch || batch.length === 0) return
    this.queued.delete(to)
    this.inFlight.add(to)
    this.deliver(to, batch)
      .then(
        () => this.onDelivered(to, batch, true),
        () => this.onDelivered(to, batch, false),
      )
      .finally(() => {
        this.inFlight.delete(to)
        this.flush(to)
      })
  }
}
