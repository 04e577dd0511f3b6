// Chunked snapshot transfer (src/member/snapshot-chunks.ts): split, reassemble, and what happens
// when a chunk is lost or the sender starts the transfer over.
import { describe, expect, it } from 'vitest'
import type { Message } from '../../src/raft/messages.ts'
import { needsChunks, SnapshotAssembler, splitSnapshot } from '../../src/member/snapshot-chunks.ts'

function snapMessage(data: string): Message {
  return {
    type: 'MsgSnap',
    from: 'a',
    to: 'b',
    term: 3,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: '',
    snapshot: {
      metadata: { index: 42, term: 3, confState: { voters: ['a', 'b'], learners: [] } },
      data,
    },
  } as unknown as Message
}
const heartbeat = { ...snapMessage(''), type: 'MsgHeartbeat', snapshot: undefined } as Message

// Non-ASCII and astral characters too: a chunk boundary may fall inside a surrogate pair.
const data = JSON.stringify({
  rows: Array.from({ length: 500 }, (_, i) => `row ${i} é 😀 ${'x'.repeat(i % 37)}`),
})

describe('snapshot chunks', () => {
  it('only snapshots larger than one chunk are chunked', () => {
    expect(needsChunks([snapMessage(data)], data.length)).toBe(false)
    expect(needsChunks([snapMessage(data)], data.length - 1)).toBe(true)
    expect(needsChunks([heartbeat], 1)).toBe(false)
  })

  it('splits into chunks no larger than asked and reassembles the exact data', () => {
    const { chunks, final } = splitSnapshot([heartbeat, snapMessage(data)], 1000, 't1')
    expect(chunks.length).toBe(Math.ceil(data.length / 1000))
    expect(chunks.every((c) => c.data.length <= 1000 && c.total === chunks.length)).toBe(true)
    // The last call carries the messages, but not the data.
    expect(final.messages[1]!.snapshot!.data).toBe('')
    expect(JSON.stringify(final).length).toBeLessThan(1000)
    const assembler = new SnapshotAssembler()
    // Order does not matter, nor does a resent chunk.
    for (const c of [...chunks].reverse()) assembler.accept(c)
    assembler.accept(chunks[0]!)
    const messages = assembler.complete(final)
    expect(messages[0]).toEqual(heartbeat)
    expect(messages[1]).toEqual(snapMessage(data))
  })

  it('a lost chunk fails the transfer as a whole, and a fresh transfer then succeeds', () => {
    const assembler = new SnapshotAssembler()
    const first = splitSnapshot([snapMessage(data)], 700, 't1')
    first.chunks.forEach((c, i) => i !== 3 && assembler.accept(c))
    expect(() => assembler.complete(first.final)).toThrow(/1 of \d+ chunks missing/)
    // What the failed transfer left is gone: its final call cannot succeed later either.
    assembler.accept(first.chunks[3]!)
    expect(() => assembler.complete(first.final)).toThrow(/missing/)

    const again = splitSnapshot([snapMessage(data)], 700, 't2')
    for (const c of again.chunks) assembler.accept(c)
    expect(assembler.complete(again.final)[0]!.snapshot!.data).toBe(data)
  })

  it('a restarted transfer drops the chunks of the one it replaces', () => {
    const assembler = new SnapshotAssembler()
    const old = splitSnapshot([snapMessage(data)], 500, 'old')
    old.chunks.slice(0, 5).forEach((c) => assembler.accept(c))
    // The sender gave up and starts over with a newer snapshot (different data, same size).
    const newer = data.replace('row 1 ', 'row 1!')
    const fresh = splitSnapshot([snapMessage(newer)], 500, 'new')
    for (const c of fresh.chunks) assembler.accept(c)
    expect(assembler.complete(fresh.final)[0]!.snapshot!.data).toBe(newer)
    // A late chunk or final call of the old transfer cannot complete with mixed data.
    assembler.accept(old.chunks[5]!)
    expect(() => assembler.complete(old.final)).toThrow(/missing/)
  })

  it('a final call without any chunk, or with data of the wrong length, is refused', () => {
    const assembler = new SnapshotAssembler()
    const { chunks, final } = splitSnapshot([snapMessage(data)], 900, 't')
    expect(() => assembler.complete(final)).toThrow(/missing/)
    for (const c of chunks) assembler.accept(c)
    expect(() => assembler.complete({ ...final, length: final.length + 1 })).toThrow(/expected/)
  })
})
