// Go 1.19's sort.Sort (pattern-defeating quicksort), reimplemented so that a sorted Range returns
// equal-keyed kvs in exactly the order etcd 3.4.23 (built with Go 1.19) returns them. sort.Sort
// is not stable: for more than 12 elements, kvs with the same version (say) come back in an
// order that depends on the algorithm's every step, so only the same algorithm reproduces it.
// The algorithm is Go's (BSD-licensed, The Go Authors); this is a TypeScript rendition of it.

/** Sorts `data` in place exactly as Go 1.19's sort.Sort with the given Less. */
export function goSort<T>(data: T[], less: (a: T, b: T) => boolean): void {
  const n = data.length
  if (n <= 1) return
  const s = new Sorter(data, less)
  s.pdqsort(0, n, bitLength(n))
}

const Hint = { Unknown: 0, Increasing: 1, Decreasing: 2 } as const
type Hint = (typeof Hint)[keyof typeof Hint]

function bitLength(n: number): number {
  let len = 0
  while (n > 0) {
    len++
    n = Math.floor(n / 2)
  }
  return len
}

class Sorter<T> {
  constructor(
    private readonly d: T[],
    private readonly lessFn: (a: T, b: T) => boolean,
  ) {}

  private less(i: number, j: number): boolean {
    return this.lessFn(this.d[i]!, this.d[j]!)
  }

  private swap(i: number, j: number): void {
    const t = this.d[i]!
    this.d[i] = this.d[j]!
    this.d[j] = t
  }

  private insertionSort(a: number, b: number): void {
    for (let i = a + 1; i < b; i++) {
      for (let j = i; j > a && this.less(j, j - 1); j--) this.swap(j, j - 1)
    }
  }

  private siftDown(lo: number, hi: number, first: number): void {
    let root = lo
    for (;;) {
      let child = 2 * root + 1
      if (child >= hi) return
      if (child + 1 < hi && this.less(first + child, first + child + 1)) child++
      if (!this.less(first + root, first + child)) return
      this.swap(first + root, first + child)
      root = child
    }
  }

  private heapSort(a: number, b: number): void {
    const first = a
    const hi = b - a
    for (let i = Math.floor((hi - 1) / 2); i >= 0; i--) this.siftDown(i, hi, first)
    for (let i = hi - 1; i >= 0; i--) {
      this.swap(first, first + i)
      this.siftDown(0, i, first)
    }
  }

  pdqsort(a: number, b: number, limit: number): void {
    const maxInsertion = 12
    let wasBalanced = true
    let wasPartitioned = true
    for (;;) {
      const length = b - a
      if (length <= maxInsertion) {
        this.insertionSort(a, b)
        return
      }
      if (limit === 0) {
        this.heapSort(a, b)
        return
      }
      if (!wasBalanced) {
        this.breakPatterns(a, b)
        limit--
      }
      let [pivot, hint]: [number, Hint] = this.choosePivot(a, b)
      if (hint === Hint.Decreasing) {
        this.reverseRange(a, b)
        pivot = b - 1 - (pivot - a)
        hint = Hint.Increasing
      }
      if (wasBalanced && wasPartitioned && hint === Hint.Increasing) {
        if (this.partialInsertionSort(a, b)) return
      }
      if (a > 0 && !this.less(a - 1, pivot)) {
        a = this.partitionEqual(a, b, pivot)
        continue
      }
      const [mid, alreadyPartitioned] = this.partition(a, b, pivot)
      wasPartitioned = alreadyPartitioned
      const leftLen = mid - a
      const rightLen = b - mid
      const balanceThreshold = Math.floor(length / 8)
      if (leftLen < rightLen) {
        wasBalanced = leftLen >= balanceThreshold
        this.pdqsort(a, mid, limit)
        a = mid + 1
      } else {
        wasBalanced = rightLen >= balanceThreshold
        this.pdqsort(mid + 1, b, limit)
        b = mid
      }
    }
  }

  private partition(a: number, b: number, pivot: number): [number, boolean] {
    this.swap(a, pivot)
    let i = a + 1
    let j = b - 1
    while (i <= j && this.less(i, a)) i++
    while (i <= j && !this.less(j, a)) j--
    if (i > j) {
      this.swap(j, a)
      return [j, true]
    }
    this.swap(i, j)
    i++
    j--
    for (;;) {
      while (i <= j && this.less(i, a)) i++
      while (i <= j && !this.less(j, a)) j--
      if (i > j) break
      this.swap(i, j)
      i++
      j--
    }
    this.swap(j, a)
    return [j, false]
  }

  private partitionEqual(a: number, b: number, pivot: number): number {
    this.swap(a, pivot)
    let i = a + 1
    let j = b - 1
    for (;;) {
      while (i <= j && !this.less(a, i)) i++
      while (i <= j && this.less(a, j)) j--
      if (i > j) break
      this.swap(i, j)
      i++
      j--
    }
    return i
  }

  private partialInsertionSort(a: number, b: number): boolean {
    const maxSteps = 5
    const shortestShifting = 50
    let i = a + 1
    for (let step = 0; step < maxSteps; step++) {
      while (i < b && !this.less(i, i - 1)) i++
      if (i === b) return true
      if (b - a < shortestShifting) return false
      this.swap(i, i - 1)
      if (i - a >= 2) {
        for (let j = i - 1; j >= 1; j--) {
          if (!this.less(j, j - 1)) break
          this.swap(j, j - 1)
        }
      }
      if (b - i >= 2) {
        for (let j = i + 1; j < b; j++) {
          if (!this.less(j, j - 1)) break
          this.swap(j, j - 1)
        }
      }
    }
    return false
  }

  private breakPatterns(a: number, b: number): void {
    const length = b - a
    if (length < 8) return
    // Go 1.19's xorshift (13, 17, 5), seeded with the length.
    let r = BigInt(length)
    const mask = (1n << 64n) - 1n
    const next = (): bigint => {
      r ^= (r << 13n) & mask
      r ^= r >> 17n
      r ^= (r << 5n) & mask
      return r
    }
    const modulus = 2n ** BigInt(bitLength(length))
    const start = a + Math.floor(length / 4) * 2 - 1
    for (let idx = start; idx <= start + 2; idx++) {
      let other = Number(next() & (modulus - 1n))
      if (other >= length) other -= length
      this.swap(idx, a + other)
    }
  }

  private choosePivot(a: number, b: number): [number, Hint] {
    const shortestNinther = 50
    const maxSwaps = 4 * 3
    const l = b - a
    const swaps = { n: 0 }
    let i = a + Math.floor(l / 4) * 1
    let j = a + Math.floor(l / 4) * 2
    let k = a + Math.floor(l / 4) * 3
    if (l >= 8) {
      if (l >= shortestNinther) {
        i = this.median(i - 1, i, i + 1, swaps)
        j = this.median(j - 1, j, j + 1, swaps)
        k = this.median(k - 1, k, k + 1, swaps)
      }
      j = this.median(i, j, k, swaps)
    }
    if (swaps.n === 0) return [j, Hint.Increasing]
    if (swaps.n === maxSwaps) return [j, Hint.Decreasing]
    return [j, Hint.Unknown]
  }

  private order2(a: number, b: number, swaps: { n: number }): [number, number] {
    if (this.less(b, a)) {
      swaps.n++
      return [b, a]
    }
    return [a, b]
  }

  private median(a: number, b: number, c: number, swaps: { n: number }): number {
    // Go: a, b = order2(a, b); b, c = order2(b, c); a, b = order2(a, b); return b
    const [a1, b1] = this.order2(a, b, swaps)
    const [b2] = this.order2(b1, c, swaps)
    return this.order2(a1, b2, swaps)[1]
  }

  private reverseRange(a: number, b: number): void {
    let i = a
    let j = b - 1
    while (i < j) {
      this.swap(i, j)
      i++
      j--
    }
  }
}
