// Seeded randomness. The core never calls Math.random: the shell (or the simulator) injects an
// Rng, so a run is a pure function of its seed.

/** A source of uniformly distributed integers. */
export interface Rng {
  /** A uniformly random integer in [0, n). Requires n >= 1. */
  int(n: number): number
}

/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32. Small, fast, and its state is four
 * uint32 words so it is easy to replay. Not cryptographic.
 */
export class Xoshiro128 implements Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    let x = seed >>> 0
    const next = (): number => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** The next uint32. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    this.s0 >>>= 0
    this.s1 >>>= 0
    this.s2 >>>= 0
    return result
  }

  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Rng.int: n must be >= 1, got ${n}`)
    // Multiply-shift on a 32-bit draw; bias is negligible for the small n raft uses.
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * n)
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextUint32() / 0x1_0000_0000
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** Creates the default seeded Rng. */
export function createRng(seed: number): Xoshiro128 {
  return new Xoshiro128(seed)
}
