// The seeded simulator as a test. Defaults keep `test/sim` well under a minute on 2 cores.
//   SIM_SEED=<s>   replay one seed exactly (prints its trace on failure)
//   SIM_SEEDS=<n>  run n seeds (default 500), SIM_START=<s0> first seed (default 1)
//   SIM_TICKS=<t>  ticks of the faulty phase per seed (default 300)

import { describe, expect, it } from 'vitest'
import type { SimOptions, SimResult } from './simulate.ts'
import { simulate } from './simulate.ts'

const replay = process.env['SIM_SEED']
const seeds = Number(process.env['SIM_SEEDS'] ?? 500)
const start = Number(process.env['SIM_START'] ?? 1)
const ticks = process.env['SIM_TICKS'] !== undefined ? Number(process.env['SIM_TICKS']) : undefined
const CHUNK = 100

function report(r: SimResult): string {
  const lines = [
    `seed ${r.seed}: ${r.violation}`,
    `swarm: ${JSON.stringify(r.swarm)}`,
    `replay: SIM_SEED=${r.seed} npx vitest run test/sim   (or node test/sim/run.ts --seed ${r.seed} --trace)`,
  ]
  if (r.trace) lines.unshift(...r.trace.slice(-150))
  return lines.join('\n')
}

function runSeeds(from: number, count: number): void {
  const failures: string[] = []
  for (let s = from; s < from + count; s++) {
    const r = simulate({ seed: s, ...(ticks !== undefined ? { ticks } : {}) })
    if (r.violation) {
      // Re-run with tracing to print what led there (same seed → same run).
      failures.push(
        report(simulate({ seed: s, trace: true, ...(ticks !== undefined ? { ticks } : {}) })),
      )
    }
  }
  if (failures.length > 0) console.error(failures.join('\n\n'))
  expect(failures.map((f) => f.split('\n').find((l) => l.startsWith('seed ')))).toEqual([])
}

describe('raft simulator', () => {
  if (replay !== undefined) {
    it(`replays seed ${replay}`, () => {
      const r = simulate({
        seed: Number(replay),
        trace: true,
        ...(ticks !== undefined ? { ticks } : {}),
      })
      if (r.violation) console.error(report(r))
      else console.log(`seed ${replay}: ok ${JSON.stringify(r.stats)}`)
      expect(r.violation).toBeUndefined()
    })
    return
  }

  for (let from = start; from < start + seeds; from += CHUNK) {
    const count = Math.min(CHUNK, start + seeds - from)
    it(`keeps every safety property and converges after healing: seeds ${from}..${from + count - 1}`, () => {
      runSeeds(from, count)
    }, 120_000)
  }

  it('is deterministic: the same seed gives the same run', () => {
    for (const seed of [7, 42, 1234]) {
      const a = simulate({ seed })
      const b = simulate({ seed })
      expect(b.stats).toEqual(a.stats)
      expect(b.violation).toEqual(a.violation)
    }
  })

  it.each([3, 5, 7])('runs %i-node clusters', (nodes) => {
    for (let seed = 1; seed <= 10; seed++) {
      const r = simulate({ seed: seed * 1000 + nodes, nodes })
      expect(r.violation, report(r)).toBeUndefined()
      expect(r.stats.committed).toBeGreaterThan(0)
    }
  })
})

describe('the simulator has teeth: planted bugs are found within a bounded number of seeds', () => {
  type Knobs = NonNullable<SimOptions['unsafe']>
  function firstViolation(unsafe: Knobs, maxSeeds: number): SimResult | undefined {
    for (let seed = 1; seed <= maxSeeds; seed++) {
      const r = simulate({ seed, unsafe })
      if (r.violation) return r
    }
    return undefined
  }

  it('a node that grants two votes in one term breaks election safety (≤ 50 seeds)', () => {
    const r = firstViolation({ doubleVote: true }, 50)
    expect(r?.violation).toMatch(/^election safety/)
  })

  it('voting without the election restriction breaks leader completeness (≤ 50 seeds)', () => {
    const r = firstViolation({ ignoreLogInVote: true }, 50)
    expect(r?.violation).toMatch(/leader completeness|state machine safety|log matching/)
  })
})
