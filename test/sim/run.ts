// Command-line simulator driver:
//   node test/sim/run.ts --seeds N [--steps TICKS] [--seed S] [--start S0] [--nodes K] [--trace]
// (npm run sim -- … once the `sim` script exists). Runs seeds S0..S0+N-1 (or just S), prints
// every failing seed with the command that replays it, and ends with `N seeds, N violations`.

import { simulate } from './simulate.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const single = arg('seed')
const start = Number(arg('start') ?? 1)
const count = single !== undefined ? 1 : Number(arg('seeds') ?? 100)
const ticks = arg('steps') !== undefined ? Number(arg('steps')) : undefined
const nodes = arg('nodes') !== undefined ? Number(arg('nodes')) : undefined
const trace = process.argv.includes('--trace')

let violations = 0
const t0 = process.hrtime.bigint()
for (let k = 0; k < count; k++) {
  const seed = single !== undefined ? Number(single) : start + k
  const r = simulate({
    seed,
    trace,
    ...(ticks !== undefined ? { ticks } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
  })
  if (r.violation) {
    violations++
    if (r.trace) console.log(r.trace.join('\n'))
    console.log(`seed ${seed}: ${r.violation}`)
    console.log(`  swarm: ${JSON.stringify(r.swarm)}`)
    console.log(
      `  replay: SIM_SEED=${seed} npx vitest run test/sim  (or: node test/sim/run.ts --seed ${seed} --trace)`,
    )
  }
  if ((k + 1) % 5000 === 0) console.error(`… ${k + 1} seeds, ${violations} violations`)
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9
console.log(`${(count / secs).toFixed(1)} seeds/s (${secs.toFixed(1)} s)`)
console.log(`${count} seeds, ${violations} violations`)
process.exitCode = violations > 0 ? 1 : 0
