// MemoryStorage: the reference Storage implementation (etcd storage_test.go cases).

import { describe, expect, it } from 'vitest'
import { CompactedError, SnapOutOfDateError, UnavailableError } from './errors.ts'
import { limitSize, MemoryStorage } from './storage.ts'
import type { Entry } from './types.ts'

const cs = { voters: ['a', 'b'], learners: [] }

function e(index: number, term: number, data = ''): Entry {
  return { index, term, type: 'normal', data }
}

/** Storage with a snapshot at 3 (term 3) and entries 4 (t4), 5 (t5). */
function snapped(): MemoryStorage {
  const s = new MemoryStorage()
  s.append([e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 5)])
  s.createSnapshot(3, cs, 'd')
  s.compact(3)
  return s
}

describe('MemoryStorage', () => {
  // [index, expected term or error]
  it.each([
    [2, CompactedError],
    [3, 3],
    [4, 4],
    [5, 5],
    [6, UnavailableError],
  ] as const)('term(%i) → %s', (i, want) => {
    const s = snapped()
    if (typeof want === 'number') expect(s.term(i)).toBe(want)
    else expect(() => s.term(i)).toThrow(want)
  })

  it('reports first and last index around the compaction point', () => {
    const s = snapped()
    expect(s.firstIndex()).toBe(4)
    expect(s.lastIndex()).toBe(5)
  })

  it('entries() respects bounds and maxBytes', () => {
    const s = snapped()
    expect(() => s.entries(3, 5, 1000)).toThrow(CompactedError)
    expect(s.entries(4, 6, 1000).map((x) => x.index)).toEqual([4, 5])
    expect(s.entries(4, 6, 0).map((x) => x.index)).toEqual([4])
    expect(() => s.entries(4, 7, 1000)).toThrow(/out of bound/)
  })

  // [append, resulting (index, term) pairs]
  it.each([
    [
      'identical entries change nothing',
      [e(4, 4), e(5, 5)],
      [
        [4, 4],
        [5, 5],
      ],
    ],
    [
      'a conflict truncates and replaces',
      [e(4, 4), e(5, 6), e(6, 6)],
      [
        [4, 4],
        [5, 6],
        [6, 6],
      ],
    ],
    ['entries before the compaction point are ignored', [e(2, 3), e(3, 3), e(4, 5)], [[4, 5]]],
    [
      'direct append at the end',
      [e(6, 5)],
      [
        [4, 4],
        [5, 5],
        [6, 5],
      ],
    ],
  ] as const)('append: %s', (_n, app, want) => {
    const s = snapped()
    s.append([...app])
    expect(s.entries(s.firstIndex(), s.lastIndex() + 1, 1e9).map((x) => [x.index, x.term])).toEqual(
      want,
    )
  })

  it('append with a gap asserts', () => {
    const s = snapped()
    expect(() => s.append([e(7, 5)])).toThrow(/missing log entry/)
  })

  it('compact twice at the same point is CompactedError; beyond last index asserts', () => {
    const s = snapped()
    expect(() => s.compact(3)).toThrow(CompactedError)
    expect(() => s.compact(9)).toThrow(/out of bound/)
  })

  it('applySnapshot replaces everything; an older one is SnapOutOfDate', () => {
    const s = snapped()
    s.applySnapshot({ metadata: { index: 10, term: 7, confState: cs }, data: 'x' })
    expect(s.firstIndex()).toBe(11)
    expect(s.lastIndex()).toBe(10)
    expect(s.term(10)).toBe(7)
    expect(() =>
      s.applySnapshot({ metadata: { index: 9, term: 7, confState: cs }, data: '' }),
    ).toThrow(SnapOutOfDateError)
    expect(s.initialState().confState).toEqual(cs)
  })

  it('persists and returns the hard state', () => {
    const s = new MemoryStorage()
    s.setHardState({ term: 3, vote: 'b', commit: 0 })
    expect(s.initialState().hardState).toEqual({ term: 3, vote: 'b', commit: 0 })
  })

  it('limitSize keeps at least one entry', () => {
    const big = [e(1, 1, 'x'.repeat(100)), e(2, 1)]
    expect(limitSize(big, 10)).toHaveLength(1)
    expect(limitSize(big, 1000)).toHaveLength(2)
  })
})
