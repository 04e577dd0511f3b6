// Per-follower flow control: Inflights window and Progress state machine (etcd tracker tests).

import { describe, expect, it } from 'vitest'
import { Inflights } from './inflights.ts'
import { Progress } from './progress.ts'

describe('Inflights', () => {
  it('fills up to its size and frees acknowledged messages in order', () => {
    const in4 = new Inflights(4)
    for (const i of [1, 2, 3, 4]) in4.add(i, 10)
    expect(in4.full()).toBe(true)
    expect(() => in4.add(5, 10)).toThrow(/full/)
    in4.freeLE(2)
    expect(in4.count()).toBe(2)
    expect(in4.full()).toBe(false)
    in4.freeLE(10)
    expect(in4.count()).toBe(0)
  })

  it('is also bounded by bytes', () => {
    const in10 = new Inflights(10, 100)
    in10.add(1, 60)
    expect(in10.full()).toBe(false)
    in10.add(2, 60)
    expect(in10.full()).toBe(true)
    in10.freeLE(1)
    expect(in10.full()).toBe(false)
  })

  it('requires increasing indexes', () => {
    const w = new Inflights(4)
    w.add(5, 1)
    expect(() => w.add(5, 1)).toThrow(/not increasing/)
  })
})

function pr(state: 'probe' | 'replicate' | 'snapshot', match: number, next: number): Progress {
  const p = new Progress(next, 256, 0, false)
  p.match = match
  if (state === 'replicate') p.becomeReplicate()
  if (state === 'snapshot') p.becomeSnapshot(next)
  p.next = next
  return p
}

describe('Progress', () => {
  // [state, match, next, rejected, hint, → changed?, next after]
  it.each([
    ['replicate', 5, 10, 5, 5, false, 10], // stale: rejected <= match
    ['replicate', 5, 10, 9, 9, true, 6], // back to match+1
    ['probe', 0, 10, 5, 5, false, 10], // stale: not the last probe
    ['probe', 0, 10, 9, 9, true, 9], // decrement to the rejected index
    ['probe', 0, 10, 9, 2, true, 3], // jump to hint+1
    ['probe', 1, 10, 9, 0, true, 2], // but never below match+1
  ] as const)(
    '%s match=%i next=%i, reject %i hint %i → %s next=%i',
    (st, match, next, rej, hint, ok, wantNext) => {
      const p = pr(st, match, next)
      expect(p.maybeDecrTo(rej, hint)).toBe(ok)
      expect(p.next).toBe(wantNext)
    },
  )

  it('maybeUpdate moves match forward only', () => {
    const p = pr('probe', 3, 4)
    expect(p.maybeUpdate(2)).toBe(false)
    expect(p.maybeUpdate(5)).toBe(true)
    expect(p.match).toBe(5)
    expect(p.next).toBe(6)
  })

  it('probe sends one MsgApp per round; replicate streams until the window fills', () => {
    const probe = pr('probe', 0, 1)
    probe.sentEntries(3, 30)
    expect(probe.isPaused()).toBe(true)
    const rep = new Progress(1, 2, 0, false)
    rep.becomeReplicate()
    rep.sentEntries(3, 30)
    expect(rep.next).toBe(4)
    expect(rep.isPaused()).toBe(false)
    rep.sentEntries(2, 20)
    expect(rep.isPaused()).toBe(true)
    rep.inflights.freeLE(3)
    rep.msgAppFlowPaused = rep.inflights.full()
    expect(rep.isPaused()).toBe(false)
  })

  it('snapshot state is paused; becomeProbe resumes after the snapshot', () => {
    const p = pr('probe', 2, 3)
    p.becomeSnapshot(20)
    expect(p.isPaused()).toBe(true)
    p.becomeProbe()
    expect(p.state).toBe('probe')
    expect(p.next).toBe(21)
  })
})
