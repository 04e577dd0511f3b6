// The in-flight window of one follower (etcd tracker/inflights.go): the last index of each
// MsgApp sent but not yet acknowledged, bounded in count and bytes. A full window pauses
// replication to that follower until acknowledgements free slots.

import { assert } from './errors.ts'

/** A bounded FIFO of (last index, bytes) of in-flight MsgApp messages. */
export class Inflights {
  private readonly indexes: number[] = []
  private readonly sizes: number[] = []
  private bytes = 0

  /**
   * @param size the most messages in flight
   * @param maxBytes the most payload bytes in flight (0 = unlimited)
   */
  readonly size: number
  readonly maxBytes: number

  constructor(size: number, maxBytes = 0) {
    assert(size > 0, 'inflights size must be positive')
    this.size = size
    this.maxBytes = maxBytes
  }

  /** Records a MsgApp whose last entry is `index`. Indexes must increase. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a full inflights')
    const last = this.indexes[this.indexes.length - 1]
    assert(
      last === undefined || index > last,
      () => `inflights index ${index} not increasing after ${last}`,
    )
    this.indexes.push(index)
    this.sizes.push(bytes)
    this.bytes += bytes
  }

  /** Frees every in-flight message whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    let n = 0
    while (n < this.indexes.length && this.indexes[n]! <= to) {
      this.bytes -= this.sizes[n]!
      n++
    }
    if (n > 0) {
      this.indexes.splice(0, n)
      this.sizes.splice(0, n)
    }
  }

  /** Whether no more messages may be sent. */
  full(): boolean {
    return this.indexes.length >= this.size || (this.maxBytes > 0 && this.bytes >= this.maxBytes)
  }

  count(): number {
    return this.indexes.length
  }

  reset(): void {
    this.indexes.length = 0
    this.sizes.length = 0
    this.bytes = 0
  }
}
