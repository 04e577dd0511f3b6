import { describe, expect, it } from 'vitest'
import { SocketBacklog } from './socket-backlog.ts'

describe('SocketBacklog', () => {
  it('counts bytes handed over and drains them at the assumed rate, never below zero', () => {
    const b = new SocketBacklog(1000, 0)
    b.add(5000, 0)
    expect(b.current(0)).toBe(5000)
    expect(b.current(2000)).toBe(3000)
    b.add(500, 2000)
    expect(b.current(2000)).toBe(3500)
    expect(b.current(10_000)).toBe(0)
    b.add(100, 10_000)
    expect(b.current(10_000)).toBe(100)
  })

  it('grows without limit while sends outpace the drain (what the member cancels on)', () => {
    const b = new SocketBacklog(1000, 0)
    for (let t = 0; t <= 10_000; t += 100) b.add(1000, t)
    // 101 kB handed over in 10 s, 10 kB assumed taken.
    expect(b.current(10_000)).toBe(91_000)
  })
})
