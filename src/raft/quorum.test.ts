// Majority quorum arithmetic, by table and against a deliberately simple reference model.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { committedIndex, majority, voteResult } from './quorum.ts'

describe('committedIndex', () => {
  // [acked indexes of voters, committed]
  it.each([
    [[5], 5],
    [[5, 3], 3],
    [[7, 5, 3], 5],
    [[3, 5, 7], 5],
    [[0, 0, 9], 0],
    [[9, 9, 0, 0], 0],
    [[9, 9, 9, 0], 9],
    [[1, 2, 3, 4, 5], 3],
    [[10, 10, 1, 1, 1], 1],
  ])('acks %j → %i', (acks, want) => {
    const ids = acks.map((_, i) => `n${i}`)
    expect(committedIndex(ids, (id) => acks[Number(id.slice(1))])).toBe(want)
  })

  it('an empty configuration never blocks', () => {
    expect(committedIndex([], () => 0)).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('matches the reference: the largest i acknowledged by a majority', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 9 }), (acks) => {
        const ids = acks.map((_, i) => `n${i}`)
        const got = committedIndex(ids, (id) => acks[Number(id.slice(1))])
        // Reference: scan candidate indexes from high to low.
        let want = 0
        for (let i = 20; i >= 0; i--) {
          if (acks.filter((a) => a >= i).length >= majority(acks.length)) {
            want = i
            break
          }
        }
        expect(got).toBe(want)
      }),
    )
  })
})

describe('voteResult', () => {
  // [votes as string per voter: y = granted, n = rejected, ? = missing, result]
  it.each([
    ['y', 'won'],
    ['?', 'pending'],
    ['n', 'lost'],
    ['yy?', 'won'],
    ['y??', 'pending'],
    ['ynn', 'lost'],
    ['yn?', 'pending'],
    ['yyn??', 'pending'],
    ['yynn?', 'pending'],
    ['yyynn', 'won'],
    ['yynnn', 'lost'],
    ['yy??', 'pending'],
    ['yyy?', 'won'],
    ['yynn', 'lost'],
  ])('%s → %s', (votes, want) => {
    const ids = [...votes].map((_, i) => `n${i}`)
    const v = (id: string): boolean | undefined => {
      const c = votes[Number(id.slice(1))]
      return c === 'y' ? true : c === 'n' ? false : undefined
    }
    expect(voteResult(ids, v)).toBe(want)
  })

  it('matches the reference model for any votes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), {
          minLength: 1,
          maxLength: 9,
        }),
        (votes) => {
          const ids = votes.map((_, i) => `n${i}`)
          const got = voteResult(ids, (id) => votes[Number(id.slice(1))])
          const yes = votes.filter((v) => v === true).length
          const no = votes.filter((v) => v === false).length
          const q = majority(votes.length)
          const want = yes >= q ? 'won' : votes.length - no >= q ? 'pending' : 'lost'
          expect(got).toBe(want)
        },
      ),
    )
  })
})
