// Snapshot install in chunks (DESIGN.md §5): a follower behind the compacted log gets the
// leader's whole state as a raft MsgSnap, and a Durable Object RPC argument may not exceed
// 32 MiB. The sender cuts the snapshot's data into chunks, sends them one call each, then sends
// the raft messages with the MsgSnap's data left out; the receiver puts the data back together
// before raft sees the message. Like etcd's snapshot stream, a transfer either completes or
// fails as a whole: a missing chunk fails the final call, raft hears "snapshot failed" and
// later sends a fresh snapshot under a new transfer id, which discards what the old one left.
// Pure: no I/O, no clock.
import type { Message } from '../raft/messages.ts'

/** One piece of a snapshot's data. `transfer` names the transfer; pieces are numbered 0.. */
export interface SnapshotChunk {
  transfer: string
  seq: number
  total: number
  data: string
}

/** The last call of a transfer: the raft messages, the MsgSnap without its data. */
export interface ChunkedMessages {
  transfer: string
  total: number
  /** The length of the whole data, checked on reassembly. */
  length: number
  messages: Message[]
}

/** True when `messages` hold a MsgSnap whose data is longer than `chunkChars`. */
export function needsChunks(messages: Message[], chunkChars: number): boolean {
  return messages.some((m) => m.type === 'MsgSnap' && (m.snapshot?.data.length ?? 0) > chunkChars)
}

/**
 * Splits the (one) MsgSnap's data into chunks of at most `chunkChars` UTF-16 code units. A
 * snapshot is JSON with base64 BLOBs, so nearly all ASCII: a chunk of N code units is at most
 * 3N bytes in UTF-8 and 2N in V8's serialization; choose N so that stays under the RPC limit.
 */
export function splitSnapshot(
  messages: Message[],
  chunkChars: number,
  transfer: string,
): { chunks: SnapshotChunk[]; final: ChunkedMessages } {
  if (chunkChars < 1) throw new Error('chunk size must be positive')
  const snaps = messages.filter((m) => m.type === 'MsgSnap')
  if (snaps.length !== 1) throw new Error(`expected one MsgSnap, got ${snaps.length}`)
  const data = snaps[0]!.snapshot!.data
  const total = Math.max(1, Math.ceil(data.length / chunkChars))
  const chunks: SnapshotChunk[] = []
  for (let seq = 0; seq < total; seq++) {
    chunks.push({
      transfer,
      seq,
      total,
      data: data.slice(seq * chunkChars, (seq + 1) * chunkChars),
    })
  }
  const stripped = messages.map((m) =>
    m.type === 'MsgSnap' ? { ...m, snapshot: { ...m.snapshot!, data: '' } } : m,
  )
  return { chunks, final: { transfer, total, length: data.length, messages: stripped } }
}

/**
 * Collects the chunks of a sender's current transfer. One transfer per sender at a time: a
 * chunk of another transfer (the sender restarted the send) drops what the old one left.
 */
export class SnapshotAssembler {
  private transfer: string | undefined
  private parts: (string | undefined)[] = []

  /** Takes one chunk. Duplicates overwrite (a resent chunk carries the same data). */
  accept(chunk: SnapshotChunk): void {
    if (chunk.seq < 0 || chunk.seq >= chunk.total || !Number.isInteger(chunk.seq)) {
      throw new Error(`snapshot chunk ${chunk.seq} of ${chunk.total} is out of range`)
    }
    if (chunk.transfer !== this.transfer || this.parts.length !== chunk.total) {
      this.transfer = chunk.transfer
      this.parts = new Array<string | undefined>(chunk.total).fill(undefined)
    }
    this.parts[chunk.seq] = chunk.data
  }

  /**
   * The messages with the MsgSnap's data restored. Throws if any chunk is missing or the data
   * does not add up; either way the transfer's chunks are dropped (the sender starts over).
   */
  complete(final: ChunkedMessages): Message[] {
    const parts = final.transfer === this.transfer ? this.parts : []
    this.transfer = undefined
    this.parts = []
    const missing =
      parts.length !== final.total ? final.total : parts.filter((p) => p === undefined).length
    if (missing > 0) {
      throw new Error(
        `snapshot transfer ${final.transfer}: ${missing} of ${final.total} chunks missing`,
      )
    }
    const data = parts.join('')
    if (data.length !== final.length) {
      throw new Error(
        `snapshot transfer ${final.transfer}: ${data.length} chars, expected ${final.length}`,
      )
    }
    return final.messages.map((m) =>
      m.type === 'MsgSnap' ? { ...m, snapshot: { ...m.snapshot!, data } } : m,
    )
  }
}
