// The checker's teeth: hand-built histories with a known answer. Linearizable ones must pass,
// the classic violations must fail, and UNKNOWN outcomes must be allowed to happen or not.
import { describe, expect, it } from 'vitest'
import type { OpInput, OpOutput, Operation, Outcome } from './history.ts'
import { checkHistory, checkKey, describeReport, relevantOps } from './linearizability.ts'

/** Builds ops tersely; times are [call, return] in ms, return Infinity for UNKNOWN. */
class HistoryBuilder {
  readonly ops: Operation[] = []

  private add(
    client: number,
    span: [number, number],
    input: OpInput,
    outcome: Outcome,
    output?: OpOutput,
    revision?: number,
    key = 'k',
  ): this {
    this.ops.push({
      id: this.ops.length,
      clientId: client,
      key,
      callMs: span[0],
      returnMs: outcome === 'unknown' ? Infinity : span[1],
      input,
      outcome,
      output: outcome === 'ok' ? output : undefined,
      revision: outcome === 'ok' ? revision : undefined,
      elapsedMs: span[1] - span[0],
    })
    return this
  }

  put(c: number, span: [number, number], value: string, rev?: number, key?: string): this {
    return this.add(c, span, { kind: 'put', value }, 'ok', { kind: 'put' }, rev, key)
  }
  putUnknown(c: number, span: [number, number], value: string, key?: string): this {
    return this.add(c, span, { kind: 'put', value }, 'unknown', undefined, undefined, key)
  }
  putFailed(c: number, span: [number, number], value: string): this {
    return this.add(c, span, { kind: 'put', value }, 'failed')
  }
  get(
    c: number,
    span: [number, number],
    value: string | null,
    modRev?: number,
    rev?: number,
    key?: string,
  ): this {
    // Without revisions given, the op carries none and the revision checks skip it.
    return this.add(
      c,
      span,
      { kind: 'get' },
      'ok',
      { kind: 'get', value, modRev: modRev ?? 0 },
      rev ?? modRev,
      key,
    )
  }
  /** A CAS comparing VALUE == expected; `current` is what a failed one read. */
  cas(
    c: number,
    span: [number, number],
    expected: string,
    value: string,
    succeeded: boolean,
    current: string | null = succeeded ? value : null,
  ): this {
    const input: OpInput = { kind: 'cas', compare: 'value', expected, expectedModRev: 0, value }
    return this.add(c, span, input, 'ok', { kind: 'cas', succeeded, current, currentModRev: 0 })
  }
  /** A CAS comparing MOD revision with what the client saw with `expected`. */
  casMod(
    c: number,
    span: [number, number],
    expected: string | null,
    expectedModRev: number,
    value: string,
    succeeded: boolean,
    current: string | null = succeeded ? value : null,
  ): this {
    const input: OpInput = { kind: 'cas', compare: 'mod', expected, expectedModRev, value }
    return this.add(c, span, input, 'ok', { kind: 'cas', succeeded, current, currentModRev: 0 })
  }
  casUnknown(c: number, span: [number, number], expected: string, value: string): this {
    const input: OpInput = { kind: 'cas', compare: 'value', expected, expectedModRev: 0, value }
    return this.add(c, span, input, 'unknown')
  }
}

const h = (): HistoryBuilder => new HistoryBuilder()

function verdictOf(b: HistoryBuilder): string {
  return checkHistory(b).verdict
}

function kindsOf(b: HistoryBuilder): string[] {
  return checkHistory(b).violations.map((v) => v.kind)
}

describe('linearizable histories pass', () => {
  it.each([
    ['an empty history', h()],
    ['a read of an absent key', h().get(0, [0, 1], null)],
    ['sequential put then get', h().put(0, [0, 1], 'a').get(1, [2, 3], 'a')],
    // A read concurrent with a write may see either side of it.
    ['a concurrent read seeing the old value', h().put(0, [0, 10], 'a').get(1, [1, 2], null)],
    ['a concurrent read seeing the new value', h().put(0, [0, 10], 'a').get(1, [1, 2], 'a')],
    [
      'reads that order two concurrent writes the same way',
      h()
        .put(0, [0, 10], 'a')
        .put(1, [0, 10], 'b')
        .get(2, [1, 3], 'b')
        .get(2, [4, 6], 'a')
        .get(3, [11, 12], 'a'),
    ],
    [
      'a successful CAS and a failed one that read its result',
      h().put(0, [0, 1], 'a').cas(1, [2, 5], 'a', 'b', true).cas(2, [3, 6], 'a', 'c', false, 'b'),
    ],
    [
      'CAS on mod revision: create when absent, then replace',
      h()
        .casMod(0, [0, 1], null, 0, 'a', true)
        .casMod(1, [2, 3], 'a', 7, 'b', true)
        .get(2, [4, 5], 'b'),
    ],
    [
      'touching calls and returns count as concurrent',
      h().put(0, [0, 5], 'a').get(1, [5, 6], null),
    ],
  ])('%s', (_name, b) => {
    const report = checkHistory(b)
    expect(report.verdict, describeReport(report)).toBe('ok')
  })
})

describe('classic violations fail', () => {
  it('a stale read after a completed write', () => {
    const b = h().put(0, [0, 1], 'a').put(0, [2, 3], 'b').get(1, [4, 5], 'a')
    const report = checkHistory(b)
    expect(report.verdict).toBe('violation')
    expect(report.violations[0]).toMatchObject({ kind: 'linearizability', key: 'k' })
    expect(report.violations[0]!.message).toContain('fits nowhere')
  })

  it('reads disagreeing on the order of two writes', () => {
    const b = h()
      .put(0, [0, 10], 'a')
      .put(1, [0, 10], 'b')
      .get(2, [11, 12], 'a')
      .get(3, [13, 14], 'b')
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('a lost update: two CASes from the same value both succeed', () => {
    const b = h().put(0, [0, 1], 'a').cas(1, [2, 5], 'a', 'b', true).cas(2, [2, 5], 'a', 'c', true)
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('a lost update: a successful CAS whose value a later read does not see', () => {
    const b = h().put(0, [0, 1], 'a').cas(1, [2, 3], 'a', 'b', true).get(2, [4, 5], 'a')
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('a CAS that failed although the value it read matches', () => {
    const b = h().put(0, [0, 1], 'a').cas(1, [2, 3], 'a', 'b', false, 'a')
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('a CAS on mod revision succeeding against a value that was already replaced', () => {
    const b = h().put(0, [0, 1], 'a').put(0, [2, 3], 'b').casMod(1, [4, 5], 'a', 2, 'c', true)
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('a read of a value never written', () => {
    const b = h().put(0, [0, 1], 'a').get(1, [2, 3], 'zzz')
    const report = checkHistory(b)
    expect(report.violations.map((v) => v.kind)).toEqual(['value-never-written'])
    expect(report.violations[0]!.message).toContain('which no op wrote')
  })

  it('a read of a value written only by a definitely-failed put', () => {
    const b = h().putFailed(0, [0, 1], 'a').get(1, [2, 3], 'a')
    expect(kindsOf(b)).toEqual(['value-never-written'])
  })

  it('a read of a value before its write was invoked', () => {
    const b = h().get(1, [0, 1], 'a').put(0, [2, 3], 'a')
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('header.revision going backwards in real time', () => {
    const b = h().put(0, [0, 1], 'a', 5).get(1, [2, 3], 'a', 5, 4)
    const report = checkHistory(b)
    expect(report.violations.map((v) => v.kind)).toContain('revision-order')
    // the same read's header is below the mod revision it returned, too
    expect(report.violations.map((v) => v.kind)).toContain('revision-consistency')
  })

  it('header.revision going backwards across keys', () => {
    const b = h().put(0, [0, 1], 'a', 9, 'x').get(1, [2, 3], null, 0, 3, 'y')
    expect(kindsOf(b)).toEqual(['revision-order'])
  })

  it('concurrent ops may answer revisions in any order', () => {
    const b = h().put(0, [0, 5], 'a', 9, 'x').get(1, [1, 6], null, 0, 3, 'y')
    expect(verdictOf(b)).toBe('ok')
  })

  it('one value seen at two mod revisions', () => {
    const b = h().put(0, [0, 1], 'a', 5).get(1, [2, 3], 'a', 6, 6)
    expect(kindsOf(b)).toEqual(['revision-consistency'])
  })

  it('one revision seen holding two values', () => {
    const b = h().put(0, [0, 1], 'a', 5).put(1, [2, 3], 'b', 5)
    expect(kindsOf(b)).toEqual(['revision-consistency'])
  })
})

describe('UNKNOWN outcomes may take effect at any time after invocation, or never', () => {
  it('an unknown put that took effect (a later read sees it)', () => {
    expect(verdictOf(h().putUnknown(0, [0, 1], 'a').get(1, [5, 6], 'a'))).toBe('ok')
  })

  it('an unknown put that never took effect (a later read does not see it)', () => {
    expect(verdictOf(h().putUnknown(0, [0, 1], 'a').get(1, [5, 6], null))).toBe('ok')
  })

  it('an unknown put that took effect late, long after the client gave up', () => {
    const b = h()
      .put(0, [0, 1], 'x')
      .putUnknown(1, [2, 3], 'a')
      .get(2, [10, 11], 'x')
      .get(2, [50, 51], 'a')
    expect(verdictOf(b)).toBe('ok')
  })

  it('an unknown put cannot take effect before it was invoked', () => {
    expect(kindsOf(h().get(1, [0, 1], 'a').putUnknown(0, [2, 3], 'a'))).toEqual(['linearizability'])
  })

  it('an unknown put takes effect at most once (no flip back to the old value)', () => {
    const b = h()
      .put(0, [0, 1], 'x')
      .putUnknown(1, [2, 3], 'a')
      .get(2, [10, 11], 'a')
      .get(2, [12, 13], 'x')
    expect(kindsOf(b)).toEqual(['linearizability'])
  })

  it('an unknown CAS applies only when its comparison holds', () => {
    const took = h().put(0, [0, 1], 'a').casUnknown(1, [2, 3], 'a', 'b').get(2, [4, 5], 'b')
    expect(verdictOf(took)).toBe('ok')
    const never = h().put(0, [0, 1], 'a').casUnknown(1, [2, 3], 'a', 'b').get(2, [4, 5], 'a')
    expect(verdictOf(never)).toBe('ok')
    // The value changed before the CAS was invoked, so it cannot have applied.
    const cannot = h().put(0, [0, 1], 'z').casUnknown(1, [2, 3], 'a', 'b').get(2, [4, 5], 'b')
    expect(kindsOf(cannot)).toEqual(['linearizability'])
  })

  it('many unknown writes stay tractable: unobserved ones drop out, observed ones are bounded', () => {
    // 2,000 rounds of: a put, 3 concurrent unknown puts (one of them later read), a read.
    const b = h()
    for (let r = 0; r < 2_000; r++) {
      const t = r * 100
      b.put(0, [t, t + 10], `p${r}`)
      for (let u = 0; u < 3; u++) b.putUnknown(1 + u, [t + 20, t + 30], `u${r}-${u}`)
      b.get(5, [t + 40, t + 50], `u${r}-${r % 3}`)
    }
    const report = checkHistory(b, { timeMs: 10_000 })
    expect(report.verdict, describeReport(report)).toBe('ok')
    expect(report.stats.steps).toBeLessThan(50_000)
  })

  it('an unknown write that a read saw must precede that read', () => {
    const b = h()
      .put(0, [0, 1], 'x')
      .putUnknown(1, [2, 3], 'a')
      .get(2, [4, 5], 'a')
      .put(0, [6, 7], 'y')
    expect(verdictOf(b)).toBe('ok')
    // …and once overwritten by a later completed write it cannot come back
    expect(kindsOf(b.get(2, [8, 9], 'a'))).toEqual(['linearizability'])
  })

  it('unknown reads and definitely-failed ops are left out of the search', () => {
    const b = h().putFailed(0, [0, 1], 'a').put(1, [2, 3], 'b')
    b.ops.push({
      ...b.ops[1]!,
      id: 2,
      input: { kind: 'get' },
      outcome: 'unknown',
      returnMs: Infinity,
    })
    expect(relevantOps(b.ops).map((op) => op.id)).toEqual([1])
    expect(verdictOf(b)).toBe('ok')
  })
})

describe('search budget and witnesses', () => {
  /**
   * `writes` puts and as many reads, each overlapping the next `width` ops (like `width`
   * clients): linearizable, but the number of orders to consider grows as 2^width.
   */
  function busyHistory(writes: number, width: number): HistoryBuilder {
    const b = h()
    for (let i = 0; i < writes; i++) b.put(i % width, [i, i + width], `v${i}`)
    for (let i = 0; i < writes; i++) b.get(width + (i % width), [i + 1, i + width + 1], `v${i}`)
    return b
  }

  it('answers unknown instead of hanging when the step budget runs out', () => {
    const report = checkHistory(busyHistory(200, 8), { stepsMax: 50 })
    expect(report.verdict).toBe('unknown')
    expect(report.undecidedKeys).toEqual(['k'])
  })

  it('answers unknown instead of hanging when the time budget runs out', () => {
    // 24 concurrent puts, then reads that no order explains: the search must try every order.
    const b = h()
    for (let i = 0; i < 24; i++) b.put(i, [0, 10], `v${i}`)
    b.get(30, [20, 21], 'v3').get(30, [22, 23], 'v5').get(30, [24, 25], 'v3')
    const started = performance.now()
    const report = checkHistory(b, { stepsMax: 1e12, timeMs: 300 })
    expect(report.verdict).toBe('unknown')
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  it('decides a long history with 8-way concurrency quickly', () => {
    const report = checkHistory(busyHistory(5_000, 8))
    expect(report.verdict, describeReport(report)).toBe('ok')
    expect(report.stats.elapsedMs).toBeLessThan(5_000)
  })

  it('shrinks a violation in a long history to a handful of ops', () => {
    const b = h()
    for (let i = 0; i < 100; i++)
      b.put(0, [10 * i, 10 * i + 1], `v${i}`).get(1, [10 * i + 2, 10 * i + 3], `v${i}`)
    b.get(2, [2000, 2001], 'v50') // stale: v99 completed long ago
    const report = checkHistory(b)
    expect(report.verdict).toBe('violation')
    const witness = report.violations[0]!.ops.map((op) => op.id)
    expect(witness.length).toBeLessThanOrEqual(4)
    expect(witness).toContain(200)
  })

  it('checkKey reports the op that fits nowhere and the prefix before it', () => {
    const b = h().put(0, [0, 1], 'a').put(0, [2, 3], 'b').get(1, [4, 5], 'a')
    const r = checkKey(b.ops, 1000, performance.now() + 1000)
    expect(r.verdict).toBe('violation')
    expect(r.stuck?.id).toBe(2)
    expect(r.prefix?.map((op) => op.id)).toEqual([0, 1])
  })
})
