// Clients waiting on the raft node: proposals wait for their entry to be applied, linearizable
// reads for their read index to be confirmed and applied. Every wait has a deadline.

/** A pending promise with its settle functions and a deadline timer. */
interface Waiter<T> {
  resolve(value: T): void
  reject(error: Error): void
  timer: ReturnType<typeof setTimeout>
}

/** Waiters keyed by id (a proposal's request id, a read's ctx). */
export class Waiters<T> {
  private readonly waiting = new Map<string, Waiter<T>>()

  /** Waits for `id` to be settled, or rejects with `onTimeout()` after `timeoutMs`. */
  wait(id: string, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(onTimeout())
      }, timeoutMs)
      this.waiting.set(id, { resolve, reject, timer })
    })
  }

  resolve(id: string, value: T): void {
    const w = this.waiting.get(id)
    if (!w) return
    this.waiting.delete(id)
    clearTimeout(w.timer)
    w.resolve(value)
  }

  /** Rejects every waiter (e.g. the leader stepped down: their outcome is unknown). */
  rejectAll(error: () => Error): void {
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id)
      clearTimeout(w.timer)
      w.reject(error())
    }
  }
}
