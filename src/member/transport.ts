// Sends raft messages to peers over Durable Object RPC. All messages for one peer that are
// ready together travel in one call; while a few calls to a peer are in flight, new messages
// for it wait and then go together in the next call, so the leader never blocks on a slow or
// dead follower and a fast one gets large batches. A failed call is a dropped message: raft retries.
import type { Message } from '../raft/messages.ts'
import type { NodeId } from '../raft/types.ts'

/** How to reach one peer: deliver a batch of messages, resolving when it was accepted. */
export type Deliver = (to: NodeId, messages: Message[]) => Promise<void>

/** Messages queued per peer beyond this are dropped (raft resends what matters). */
const MAX_QUEUED_PER_PEER = 4096

/**
 * Calls in flight per peer. A call lasts as long as both members take to make their writes
 * durable (the output gates) plus queueing on the one local thread: 9–14 ms measured under
 * load, while the thread was mostly idle on disk. With one call at a time that latency capped
 * replication at one batch per round trip; a few in flight overlap the waits. Calls from one
 * stub arrive in order and `receive` steps them synchronously, so raft sees them in order.
 */
const MAX_IN_FLIGHT_PER_PEER = 4

/** A per-peer batching sender. */
export class Transport {
  private readonly queued = new Map<NodeId, Message[]>()
  private readonly inFlight = new Map<NodeId, number>()

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
    const calls = this.inFlight.get(to) ?? 0
    if (calls >= MAX_IN_FLIGHT_PER_PEER) return
    const batch = this.queued.get(to)
    if (!batch || batch.length === 0) return
    this.queued.delete(to)
    this.inFlight.set(to, calls + 1)
    this.deliver(to, batch)
      .then(
        () => this.onDelivered(to, batch, true),
        () => this.onDelivered(to, batch, false),
      )
      .finally(() => {
        this.inFlight.set(to, (this.inFlight.get(to) ?? 1) - 1)
        this.flush(to)
      })
  }
}
