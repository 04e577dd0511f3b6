// How many bytes a watch WebSocket may be holding for its client. workerd's WebSocket has no
// `bufferedAmount` and `send()` never blocks or throws while the client is not reading: every
// frame waits in the runtime's memory (measured: 100 MB queued for a paused `ws` client, all of
// it delivered once the client read again; the kernel held only ~4 MB). The runtime says
// nothing about what the client took, so the member accounts for it: bytes handed to the
// socket count in full, and the client is assumed to take them at no more than `drainBytesPerSec`.
// A client that falls `maxBytes` behind that pace is treated as a slow consumer.
//
// What this bounds: for any client whose events arrive faster than the assumed drain rate,
// the bytes the runtime can hold for it stay below about maxBytes × rate / (rate − drain).
// What it cannot do: tell a paused client from a fast one on a stream slower than the drain
// rate (nothing in the platform reveals it); such a stream pins at most its own event rate.

/** The bytes a socket may be holding, as accounted by the member. */
export class SocketBacklog {
  private bytes = 0
  private at: number

  constructor(
    private readonly drainBytesPerSec: number,
    now: number,
  ) {
    this.at = now
  }

  /** Counts `size` bytes handed to the socket at `now`. */
  add(size: number, now: number): void {
    this.bytes = this.current(now) + size
    this.at = now
  }

  /** The accounted bytes not yet taken at `now`. */
  current(now: number): number {
    const drained = (Math.max(0, now - this.at) * this.drainBytesPerSec) / 1000
    return Math.max(0, this.bytes - drained)
  }
}
