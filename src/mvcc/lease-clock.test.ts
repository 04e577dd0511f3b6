import { describe, expect, it } from 'vitest'
import { LeaseClock } from './lease-clock.ts'

describe('LeaseClock', () => {
  it('runs on the local clock until it sees an entry (the first leader)', () => {
    const clock = new LeaseClock()
    expect(clock.now(1_000)).toBe(1_000)
    expect(clock.learnedTerm).toBe(-1)
  })

  it('learns the offset from an entry and never runs ahead of its proposer', () => {
    const clock = new LeaseClock()
    // Proposed at lease time 10 000, applied here at local time 70 004 (4 ms later, in truth).
    clock.observe(2, 10_000, 70_004)
    expect(clock.now(71_000)).toBe(10_996)
  })

  it('within a term keeps the closest estimate (largest offset)', () => {
    const clock = new LeaseClock()
    clock.observe(2, 10_000, 70_050) // delayed
    clock.observe(2, 10_100, 70_101) // prompt
    clock.observe(2, 10_200, 70_400) // delayed again: ignored
    expect(clock.now(71_000)).toBe(10_999)
  })

  it('a newer term replaces the offset even when it lags more; an older term is ignored', () => {
    const clock = new LeaseClock()
    clock.observe(2, 10_000, 70_000)
    clock.observe(3, 10_500, 70_600) // the new leader lags the old one by 100 ms
    expect(clock.now(71_000)).toBe(10_900)
    clock.observe(2, 20_000, 70_700)
    expect(clock.now(71_000)).toBe(10_900)
  })

  it('lets a leader read lease time only after it applied an entry of its own term', () => {
    const clock = new LeaseClock()
    clock.observe(2, 10_000, 70_000)
    clock.noteApplied(2)
    expect(clock.leaderNow(3, 70_100)).toBeUndefined()
    clock.noteApplied(3)
    expect(clock.leaderNow(3, 70_100)).toBe(10_100)
  })

  it("a leader's own entries, applied after it proposed them, never move its clock", () => {
    const clock = new LeaseClock()
    clock.observe(2, 10_000, 70_000)
    clock.noteApplied(3)
    const proposedAt = clock.leaderNow(3, 70_100)!
    clock.observe(3, proposedAt, 70_130) // applied 30 ms after it was proposed
    expect(clock.leaderNow(3, 71_000)).toBe(11_000)
  })
})
