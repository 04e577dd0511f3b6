// RaftLog: append/conflict rules (paper Figure 2 AppendEntries receiver), commit/applied
// cursors, up-to-date comparison (§5.4.1) and the stable/unstable split.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CompactedError } from './errors.ts'
import { RaftLog } from './log.ts'
import { MemoryStorage } from './storage.ts'
import type { Entry } from './types.ts'

function ents(terms: number[], from = 1): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: from + i,
    type: 'normal',
    data: `${term}.${from + i}`,
  }))
}

function logWith(terms: number[]): RaftLog {
  const s = new MemoryStorage()
  s.append(ents(terms))
  return new RaftLog(s)
}

function termsOf(l: RaftLog): number[] {
  return l.allEntries().map((e) => e.term)
}

describe('RaftLog.findConflict', () => {
  // log terms [1,2,3] at 1..3; [entries as (index, term) list, expected conflict index]
  it.each([
    [[], 0],
    [
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      0,
    ], // all match
    [
      [
        [2, 2],
        [3, 3],
      ],
      0,
    ],
    [[[3, 3]], 0],
    [
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 4],
      ],
      4,
    ], // new entries
    [
      [
        [2, 2],
        [3, 3],
        [4, 4],
      ],
      4,
    ],
    [
      [
        [4, 4],
        [5, 4],
      ],
      4,
    ],
    [
      [
        [1, 4],
        [2, 4],
      ],
      1,
    ], // conflicts
    [
      [
        [2, 1],
        [3, 4],
        [4, 4],
      ],
      2,
    ],
    [
      [
        [3, 1],
        [4, 2],
      ],
      3,
    ],
  ] as [number[][], number][])('entries %j → %i', (es, want) => {
    const l = logWith([1, 2, 3])
    expect(
      l.findConflict(
        es.map(([index, term]) => ({ index: index!, term: term!, type: 'normal', data: '' })),
      ),
    ).toBe(want)
  })
})

describe('RaftLog.maybeAppend (AppendEntries receiver rules 2–5)', () => {
  // log [1,2,3], commit 1. [prevIndex, prevTerm, leaderCommit, new entry terms, → lastNew, commit, resulting terms]
  it.each([
    ['prev term mismatch is rejected', 3, 2, 3, [4], undefined, 1, [1, 2, 3]],
    ['prev index beyond the log is rejected', 4, 3, 3, [4], undefined, 1, [1, 2, 3]],
    ['heartbeat-like empty append advances commit', 3, 3, 3, [], 3, 3, [1, 2, 3]],
    ['commit is capped at the last new entry', 2, 2, 3, [], 2, 2, [1, 2, 3]],
    ['appends new entries', 3, 3, 3, [4, 4], 5, 3, [1, 2, 3, 4, 4]],
    ['already-present entries change nothing', 1, 1, 1, [2, 3], 3, 1, [1, 2, 3]],
    ['a conflicting suffix is truncated', 1, 1, 1, [4], 2, 1, [1, 4]],
    ['a conflict in the middle keeps the matching prefix', 1, 1, 2, [2, 4, 4], 4, 2, [1, 2, 4, 4]],
  ] as const)('%s', (_n, pi, pt, commit, newTerms, wantLast, wantCommit, wantTerms) => {
    const l = logWith([1, 2, 3])
    l.commitTo(1)
    const got = l.maybeAppend(pi, pt, commit, ents([...newTerms], pi + 1))
    expect(got).toBe(wantLast)
    expect(l.committed).toBe(wantCommit)
    expect(termsOf(l)).toEqual(wantTerms)
  })

  it('refuses to truncate committed entries (asserts)', () => {
    const l = logWith([1, 2, 3])
    l.commitTo(3)
    expect(() => l.maybeAppend(1, 1, 3, ents([4, 4], 2))).toThrow(/conflicts with committed/)
  })
})

describe('RaftLog.findConflictByTerm (fast backtracking)', () => {
  // log terms [1,3,3,4,4,5,5,5,6] (etcd's doc example of the follower)
  const terms = [1, 3, 3, 4, 4, 5, 5, 5, 6]
  it.each([
    [9, 6, 9, 6],
    [9, 5, 8, 5],
    [8, 3, 3, 3],
    [6, 2, 1, 1],
    [9, 0, 0, 0],
    [4, 10, 4, 4],
  ])('(index %i, term %i) → (%i, %i)', (index, term, wi, wt) => {
    expect(logWith(terms).findConflictByTerm(index, term)).toEqual({ index: wi, term: wt })
  })
})

describe('RaftLog.isUpToDate (§5.4.1)', () => {
  // our log [1,2,3]: [candidate last index, last term, up to date?]
  it.each([
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ])('candidate (%i, term %i) → %s', (i, t, want) => {
    expect(logWith([1, 2, 3]).isUpToDate(i, t)).toBe(want)
  })
})

describe('RaftLog cursors', () => {
  it('commitTo never moves backwards and asserts beyond the last index', () => {
    const l = logWith([1, 1, 1])
    l.commitTo(2)
    l.commitTo(1)
    expect(l.committed).toBe(2)
    expect(() => l.commitTo(4)).toThrow(/out of range/)
  })

  it('hands out committed entries once, up to the applied cursor', () => {
    const l = logWith([1, 1, 1])
    l.commitTo(2)
    expect(l.nextCommittedEnts().map((e) => e.index)).toEqual([1, 2])
    l.appliedTo(2)
    expect(l.hasNextCommittedEnts()).toBe(false)
    l.commitTo(3)
    expect(l.nextCommittedEnts().map((e) => e.index)).toEqual([3])
  })

  it('appliedTo beyond commit asserts', () => {
    const l = logWith([1, 1])
    l.commitTo(1)
    expect(() => l.appliedTo(2)).toThrow(/out of range/)
  })

  it('maybeCommit commits only an entry of the given term (§5.4.2)', () => {
    const l = logWith([1, 2, 2])
    expect(l.maybeCommit(3, 1)).toBe(false)
    expect(l.maybeCommit(3, 2)).toBe(true)
    expect(l.committed).toBe(3)
  })

  it('keeps unstable entries until stableTo with a matching term', () => {
    const l = logWith([1])
    l.append(ents([2, 2], 2))
    expect(l.unstableEntries().map((e) => e.index)).toEqual([2, 3])
    l.stableTo(3, 1) // wrong term: a newer leader overwrote it meanwhile
    expect(l.unstableEntries()).toHaveLength(2)
    l.stableTo(3, 2)
    expect(l.unstableEntries()).toHaveLength(0)
  })

  it('slices across stable and unstable parts, honouring maxBytes but returning at least one', () => {
    const l = logWith([1, 1])
    l.append(ents([2, 2], 3))
    expect(l.slice(1, 5, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([1, 2, 3, 4])
    expect(l.slice(2, 5, 1).map((e) => e.index)).toEqual([2])
    expect(l.slice(1, 5, 40).length).toBe(2)
  })

  it('throws CompactedError below the first index', () => {
    const s = new MemoryStorage()
    s.append(ents([1, 1, 1, 1]))
    s.createSnapshot(2, { voters: ['a'], learners: [] }, '')
    s.compact(2)
    const l = new RaftLog(s)
    expect(l.firstIndex()).toBe(3)
    expect(() => l.entries(2, 100)).toThrow(CompactedError)
    expect(l.termOrUndefined(2)).toBe(1)
    expect(l.termOrUndefined(1)).toBe(0)
  })

  it('restores to a snapshot: committed jumps, the log starts after it', () => {
    const l = logWith([1, 1])
    l.restore({
      metadata: { index: 10, term: 3, confState: { voters: ['a'], learners: [] } },
      data: '',
    })
    expect(l.committed).toBe(10)
    expect(l.lastIndex()).toBe(10)
    expect(l.firstIndex()).toBe(11)
    expect(l.lastTerm()).toBe(3)
    expect(l.pendingSnapshot()?.metadata.index).toBe(10)
  })
})

describe('RaftLog against a reference model (property)', () => {
  // Reference: the AppendEntries receiver rules over a plain array of terms.
  function modelAppend(
    log: number[],
    commit: number,
    prev: number,
    prevTerm: number,
    terms: number[],
    leaderCommit: number,
  ): { log: number[]; commit: number; ok: boolean } {
    const termAt = (i: number): number | undefined => (i === 0 ? 0 : log[i - 1])
    if (termAt(prev) !== prevTerm) return { log, commit, ok: false }
    const out = log.slice()
    terms.forEach((t, k) => {
      const i = prev + 1 + k
      if (out[i - 1] !== undefined && out[i - 1] !== t) out.length = i - 1
      if (out[i - 1] === undefined) out.push(t)
    })
    return {
      log: out,
      commit: Math.max(commit, Math.min(leaderCommit, prev + terms.length)),
      ok: true,
    }
  }

  it('maybeAppend matches the model for random append sequences', () => {
    const op = fc.record({
      prev: fc.nat({ max: 8 }),
      prevTerm: fc.nat({ max: 3 }),
      terms: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 4 }),
      leaderCommit: fc.nat({ max: 10 }),
    })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const l = new RaftLog(new MemoryStorage())
        let model: number[] = []
        let commit = 0
        for (const o of ops) {
          // Terms in a log never decrease; skip ops that would build an impossible log.
          const sorted = [...o.terms].sort((a, b) => a - b)
          if (sorted.length > 0 && sorted[0]! < o.prevTerm) continue
          const next = modelAppend(model, commit, o.prev, o.prevTerm, sorted, o.leaderCommit)
          // A real leader never conflicts with committed entries; skip such ops.
          const keep = next.log.slice(0, commit)
          if (next.ok && keep.some((t, i) => t !== model[i])) continue
          const got = l.maybeAppend(o.prev, o.prevTerm, o.leaderCommit, ents(sorted, o.prev + 1))
          expect(got !== undefined).toBe(next.ok)
          model = next.log
          commit = next.commit
          expect(termsOf(l)).toEqual(model)
          expect(l.committed).toBe(commit)
        }
      }),
      { numRuns: 300 },
    )
  })
})
