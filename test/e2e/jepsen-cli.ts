// `npm run jepsen -- --runs N [--schedule NAME] [--seed S] [--duration-ms D]`: starts the local
// runtime with DEV_FAULTS on and runs N seeded fault runs (jepsen.ts), cycling through the
// schedules (or only NAME), then prints `N histories checked, N violations`. A failing run
// prints its history summary, the violations and the command that replays it. Exit code 1 on
// any violation or a run that could not finish, 2 if some history could not be decided within
// the checker's budget.
import { parseArgs } from 'node:util'
import { SCHEDULES, scheduleNamed } from './fault-schedules.ts'
import { replayCommand, runSchedule } from './jepsen.ts'
import { startRuntime } from './runtime.ts'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    schedule: { type: 'string' },
    seed: { type: 'string' },
    'duration-ms': { type: 'string', default: '10000' },
    verbose: { type: 'boolean', default: false },
  },
})
const runs = Number(values.runs)
const durationMs = Number(values['duration-ms'])
const schedules = values.schedule ? [scheduleNamed(values.schedule)] : SCHEDULES
const firstSeed =
  values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
if (!Number.isInteger(runs) || runs < 1 || !Number.isSafeInteger(firstSeed)) {
  console.error('usage: npm run jepsen -- --runs N [--schedule NAME] [--seed S] [--duration-ms D]')
  process.exit(64)
}

const runtime = await startRuntime()
let checked = 0
let violations = 0
let undecided = 0
let errors = 0
let ops = 0
const started = Date.now()
try {
  for (let i = 0; i < runs; i++) {
    const schedule = schedules[i % schedules.length]!
    // Seeds follow one another from the first, so any run is replayed by its own seed.
    const seed = (firstSeed + i) >>> 0
    const runStarted = Date.now()
    let result
    try {
      result = await runSchedule(runtime, { schedule, seed, durationMs })
    } catch (e) {
      // The run could not finish (no leader in 60 s, a member that never caught up): that is a
      // failure too. Restart the runtime from its data and go on with the next run.
      errors++
      console.log(`run ${i + 1}/${runs} ${schedule.name} seed ${seed}: ERROR ${String(e)}`)
      console.log(`replay: ${replayCommand(schedule.name, seed, durationMs)}`)
      await runtime.killAndRestart()
      continue
    }
    checked++
    ops += result.history.ops.length
    const bad = result.violations > 0
    const expected = schedule.expectViolation === true
    if (bad) violations++
    if (result.undecided) undecided++
    const unknown = result.history.ops.filter((op) => op.outcome === 'unknown').length
    console.log(
      `run ${i + 1}/${runs} ${schedule.name} seed ${seed}: ${result.history.ops.length} ops ` +
        `(${unknown} unknown), ${result.report.verdict}, ` +
        `${result.violations} violation(s), ${((Date.now() - runStarted) / 1000).toFixed(1)} s` +
        (expected ? ' [mutation: a violation is expected]' : ''),
    )
    if (bad || result.undecided || values.verbose) console.log(result.text)
  }
} finally {
  await runtime.stop()
}
console.log(
  `${checked} histories checked, ${violations} violations` +
    (undecided ? `, ${undecided} undecided (checker budget)` : '') +
    (errors ? `, ${errors} runs that could not finish` : '') +
    ` (${ops} ops, ${((Date.now() - started) / 1000).toFixed(0)} s, runtime restarts ${runtime.restarts()})`,
)
process.exit(violations > 0 || errors > 0 ? 1 : undecided > 0 ? 2 : 0)
