import { describe, expect, it } from 'vitest'
import { createRng } from './rng.ts'

describe('Xoshiro128 seeded rng', () => {
  it('is a pure function of its seed', () => {
    const a = createRng(42)
    const b = createRng(42)
    for (let i = 0; i < 100; i++) expect(a.nextUint32()).toBe(b.nextUint32())
    expect(createRng(1).nextUint32()).not.toBe(createRng(2).nextUint32())
  })

  it('int(n) stays in [0, n) and covers the range', () => {
    const r = createRng(7)
    const seen = new Set<number>()
    for (let i = 0; i < 1000; i++) {
      const x = r.int(10)
      expect(x >= 0 && x < 10 && Number.isInteger(x)).toBe(true)
      seen.add(x)
    }
    expect(seen.size).toBe(10)
    expect(() => r.int(0)).toThrow(RangeError)
  })

  it('works for seed 0', () => {
    const r = createRng(0)
    expect(new Set(Array.from({ length: 10 }, () => r.nextUint32())).size).toBe(10)
  })
})
