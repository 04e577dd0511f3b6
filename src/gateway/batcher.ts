// Coalescing at the front door (DESIGN.md §7): concurrent client requests in this isolate that
// go to the same member travel in one Durable Object call. A call is sent at once when none is
// in flight; requests that arrive while calls are in flight wait and go together in the next
// one. One call per request caps throughput at the cost of a call (TOOLCHAIN.md "The ceiling");
// this keeps latency at one call when idle and amortises the call under load.

/** Sends one batch; returns one result per item, in order, or throws for the whole batch. */
export type SendBatch<I, O> = (items: I[]) => Promise<O[]>

interface Queued<I, O> {
  item: I
  send: SendBatch<I, O>
  resolve(value: O): void
  reject(error: unknown): void
}

/** Batches items for one destination. */
export class Batcher<I, O> {
  private queue: Queued<I, O>[] = []
  private inFlight = 0

  constructor(
    /** Calls allowed in flight at once (pipelining). */
    private readonly maxInFlight = 2,
    /** Items in one call at most. */
    private readonly maxBatch = 512,
  ) {}

  /**
   * Queues `item`. `send` is the caller's way to deliver a batch (bound to its own request's
   * stub); the batch is sent through the first queued item's `send`.
   */
  submit(item: I, send: SendBatch<I, O>): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, send, resolve, reject })
      this.flush()
    })
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight++
      batch[0]!
        .send(batch.map((q) => q.item))
        .then(
          (results) => batch.forEach((q, i) => q.resolve(results[i]!)),
          (error: unknown) => batch.forEach((q) => q.reject(error)),
        )
        .finally(() => {
          this.inFlight--
          this.flush()
        })
    }
  }
}

/** One batcher per key (member and kind of call), kept for the isolate's life. */
export class Batchers<I, O> {
  private readonly byKey = new Map<string, Batcher<I, O>>()

  get(key: string): Batcher<I, O> {
    let b = this.byKey.get(key)
    if (!b) {
      b = new Batcher<I, O>()
      this.byKey.set(key, b)
    }
    return b
  }
}
