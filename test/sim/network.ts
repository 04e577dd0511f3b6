// The simulated network: every message is delayed by a seeded random latency (which also
// reorders them), may be dropped or duplicated, and is blocked by the current partition.
// Messages go through JSON on the way, proving the wire format is plain data.

import type { Message } from '../../src/raft/index.ts'
import type { Xoshiro128 } from '../../src/raft/index.ts'

/** Fault knobs of the network, chosen per seed ("swarm" testing). */
export interface NetworkFaults {
  /** Probability a message is dropped. */
  dropRate: number
  /** Probability a message is delivered twice. */
  dupRate: number
  /** Latency is uniform in [1, maxLatency] microsteps. */
  maxLatency: number
}

interface InFlight {
  m: Message
  deliverAt: number
  seq: number
}

/** A seeded lossy, reordering, partitionable network. */
export class Network {
  private queue: InFlight[] = []
  private seq = 0
  /** Directed links that are cut: `${from}>${to}`. */
  private blocked = new Set<string>()
  faults: NetworkFaults
  sent = 0
  dropped = 0
  duplicated = 0

  private readonly rng: Xoshiro128

  constructor(rng: Xoshiro128, faults: NetworkFaults) {
    this.rng = rng
    this.faults = faults
  }

  /** Queues a message sent at time `now`. Returns false if the network dropped it. */
  send(m: Message, now: number): boolean {
    this.sent++
    if (this.faults.dropRate > 0 && this.rng.float() < this.faults.dropRate) {
      this.dropped++
      return false
    }
    const wire = JSON.stringify(m)
    const copies = this.faults.dupRate > 0 && this.rng.float() < this.faults.dupRate ? 2 : 1
    if (copies === 2) this.duplicated++
    for (let i = 0; i < copies; i++) {
      const msg = JSON.parse(wire) as Message
      const deliverAt = now + 1 + this.rng.int(Math.max(1, this.faults.maxLatency))
      this.queue.push({ m: msg, deliverAt, seq: this.seq++ })
    }
    return true
  }

  /** Removes and returns every message due by `now`, in delivery order. */
  due(now: number): Message[] {
    if (this.queue.length === 0) return []
    const ready: InFlight[] = []
    const rest: InFlight[] = []
    for (const f of this.queue) (f.deliverAt <= now ? ready : rest).push(f)
    if (ready.length === 0) return []
    this.queue = rest
    ready.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq)
    return ready.map((f) => f.m)
  }

  /** Whether the link from → to is currently cut. */
  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(`${from}>${to}`)
  }

  /** Cuts every link between the two groups, both ways. */
  partitionSymmetric(a: string[], b: string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y)
        this.cut(y, x)
      }
    }
  }

  /** Cuts one direction of a link. */
  cut(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`)
  }

  /** Restores every link. */
  heal(): void {
    this.blocked.clear()
  }

  blockedLinks(): number {
    return this.blocked.size
  }

  inFlight(): number {
    return this.queue.length
  }

  /** Drops every in-flight message (used when a test wants a quiet network). */
  clear(): void {
    this.queue = []
  }
}
