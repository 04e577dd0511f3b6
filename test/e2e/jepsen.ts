// One Jepsen-style run: ≥ 8 seeded clients do get/put/cas on a few keys, entering at the front
// door and at each member, while a fault schedule (fault-schedules.ts) runs and a watcher
// follows the run's keys, reconnecting to other members whenever it is cut off. Afterwards:
// - the history must be linearizable (linearizability.ts),
// - durability: every member replays the same events for the run's keys (a watch from the
//   run's first revision, entered at each member), every acknowledged write is among them at the
//   revision it was acknowledged with, and every member's HashKV agrees,
// - the watcher's events must hold etcd's watch guarantees (watch-guarantees.ts) against that
//   replay.
// One seed drives the client workload, where each op enters, the watcher's reconnections and
// the schedule; `replayCommand` prints how to run it again.
import { createRng, type Xoshiro128 } from '../../src/raft/rng.ts'
import { memberHashes, waitHealthy } from '../support/cluster.ts'
import type { WatchResult } from '../support/watch-client.ts'
import { httpWatch } from '../support/watch-client.ts'
import type { FaultContext, FaultName, Schedule } from './fault-schedules.ts'
import { recordHistory, summarize, type History } from './history.ts'
import { checkHistory, describeReport, type CheckReport } from './linearizability.ts'
import { FRONT_DOOR, memberTransport } from './member-transport.ts'
import { prefixRangeEnd, resumingWatcher } from './resuming-watcher.ts'
import type { Runtime } from './runtime.ts'
import { checkWatchGuarantees } from './watch-guarantees.ts'

/** The members of the local cluster (wrangler.toml INITIAL_CLUSTER). */
export const MEMBERS = ['m1', 'm2', 'm3']

/** What to run. */
export interface RunOptions {
  schedule: Schedule
  seed: number
  /** How long the clients run (the schedule runs meanwhile). */
  durationMs: number
  clients?: number
  keys?: number
  /** A request not answered in this long is UNKNOWN. */
  requestTimeoutMs?: number
}

/** What a run found. */
export interface RunResult {
  schedule: string
  seed: number
  history: History
  report: CheckReport
  durability: string[]
  watch: string[]
  /** The fault episodes as they happened (ms since the run began). */
  faultLog: string[]
  /** Linearizability, durability and watch violations, counted together. */
  violations: number
  /** The checker ran out of budget on some key: neither ok nor a violation. */
  undecided: boolean
  text: string
}

/** The command that replays a run. */
export function replayCommand(schedule: string, seed: number, durationMs: number): string {
  return `npm run jepsen -- --schedule ${schedule} --seed ${seed} --duration-ms ${durationMs} --runs 1`
}

type Event = NonNullable<WatchResult['events']>[number]
const b64 = (s: string) => Buffer.from(s).toString('base64')
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** POST with retries until a 200 or the deadline (the cluster may be electing). */
async function postUntilOk(url: string, body: unknown, deadlineMs = 30_000): Promise<unknown> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    try {
      const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) })
      const text = await r.text()
      if (r.status === 200) return JSON.parse(text)
      if (Date.now() > deadline) throw new Error(`${url}: ${r.status} ${text}`)
    } catch (e) {
      if (Date.now() > deadline) throw e
    }
    await sleep(200)
  }
}

const revisionOf = (json: unknown): number =>
  Number((json as { header: { revision: string } }).header.revision)

/** The controls a schedule gets, over this runtime, logging each action. */
function faultContext(
  runtime: Runtime,
  rng: Xoshiro128,
  log: (line: string) => void,
  cutWatcher: () => void,
): FaultContext {
  return {
    rng,
    members: MEMBERS,
    async fault(member: string, name: FaultName, value?: number) {
      const query = value === undefined ? '' : `?value=${value}`
      if (name !== 'heal') log(`${name}${query ? ` ${value}` : ''} ${member}`)
      try {
        const r = await fetch(`${runtime.url}/_dev/members/${member}/${name}${query}`, {
          method: 'POST',
        })
        await r.text()
      } catch (e) {
        log(`  ${name} ${member} failed: ${String(e).slice(0, 80)}`)
      }
    },
    async leader() {
      try {
        const r = await fetch(`${runtime.url}/_dev/members`)
        const all = (await r.json()) as { name: string; isLeader: boolean; raftTerm: number }[]
        const leaders = all.filter((s) => s.isLeader).sort((a, b) => b.raftTerm - a.raftTerm)
        return leaders[0]?.name
      } catch {
        return undefined
      }
    },
    async killRuntime() {
      log('SIGKILL runtime')
      await runtime.killAndRestart()
      log('runtime restarted')
    },
    cutWatcher() {
      log('cut watcher')
      cutWatcher()
    },
    sleep,
  }
}

/** Heals every member (a fault left on would skew the next run). */
async function healAll(url: string): Promise<void> {
  for (const m of MEMBERS) {
    await fetch(`${url}/_dev/members/${m}/heal`, { method: 'POST' })
      .then((r) => r.text())
      .catch(() => undefined)
  }
}

/** Every event of [from, the end marker] for the run's keys, as one member replays them. */
async function replayAt(
  url: string,
  member: string,
  key: string,
  rangeEnd: string,
  from: number,
  endRev: number,
): Promise<Event[]> {
  const watch = await httpWatch(`${url}/_dev/members/${member}`, [
    { create_request: { key, range_end: rangeEnd, prev_kv: true, start_revision: String(from) } },
  ])
  try {
    const events = () => watch.results.flatMap((r) => r.events ?? [])
    await watch.until(() => events().some((e) => Number(e.kv.mod_revision) >= endRev), 30_000)
    return events().filter((e) => Number(e.kv.mod_revision) <= endRev)
  } finally {
    watch.close()
  }
}

/** Durability: the members' replays agree and hold every acknowledged write; HashKV agrees. */
async function checkDurability(
  url: string,
  history: History,
  replays: Event[][],
  endRev: number,
): Promise<string[]> {
  const problems: string[] = []
  const truth = replays[0]!
  replays.forEach((r, i) => {
    if (JSON.stringify(r) !== JSON.stringify(truth))
      problems.push(`${MEMBERS[i]} replays ${r.length} events, ${MEMBERS[0]} ${truth.length}`)
  })
  const present = new Set(truth.map((e) => `${e.kv.key}@${e.kv.mod_revision}=${e.kv.value ?? ''}`))
  for (const op of history.ops) {
    if (op.outcome !== 'ok' || op.revision === undefined) continue
    const wrote =
      op.input.kind === 'put' ||
      (op.input.kind === 'cas' && op.output?.kind === 'cas' && op.output.succeeded)
    if (!wrote || op.input.kind === 'get') continue
    if (!present.has(`${b64(op.key)}@${op.revision}=${b64(op.input.value)}`))
      problems.push(
        `acknowledged write lost: #${op.id} ${op.key}=${op.input.value} @${op.revision}`,
      )
  }
  const hashes = await memberHashes(
    url,
    (hs) => hs.every((h) => h.revision >= endRev && h.revision === hs[0]!.revision),
    MEMBERS,
  )
  if (new Set(hashes.map((h) => `${h.revision}/${h.hash}`)).size !== 1)
    problems.push(`members disagree: ${JSON.stringify(hashes)}`)
  return problems
}

/** Runs one schedule over a running runtime and checks everything. */
export async function runSchedule(runtime: Runtime, options: RunOptions): Promise<RunResult> {
  const { schedule, seed } = options
  const durationMs = Math.max(options.durationMs, schedule.minDurationMs ?? 0)
  await waitHealthy(runtime.url, 60_000)
  await healAll(runtime.url)
  const prefix = `/jepsen/${schedule.name}/${seed}/${Date.now()}/`
  const key = b64(prefix)
  const rangeEnd = prefixRangeEnd(prefix)
  const startRev = revisionOf(
    await postUntilOk(`${runtime.url}/v3/kv/put`, { key: b64(`${prefix}~start`), value: '' }),
  )

  const watchRng = createRng((seed ^ 0x1b873593) >>> 0)
  const entries = [FRONT_DOOR, ...MEMBERS]
  const watcher = resumingWatcher({
    url: runtime.url,
    key,
    rangeEnd,
    startRevision: startRev,
    entry: () => {
      const e = entries[watchRng.int(entries.length)]!
      return e === FRONT_DOOR ? '' : e
    },
  })

  const t0 = performance.now()
  const faultLog: string[] = []
  const log = (line: string) => faultLog.push(`${(performance.now() - t0).toFixed(0)} ms ${line}`)
  const ctx = faultContext(runtime, createRng((seed ^ 0xcc9e2d51) >>> 0), log, watcher.cut)
  let recording = true
  const faults = (async () => {
    // Stop injecting early enough that the last episode ends inside the run.
    while (recording && performance.now() - t0 < durationMs - 1_000) {
      await sleep(schedule.gapMs[0] + ctx.rng.int(schedule.gapMs[1] - schedule.gapMs[0]))
      if (!recording) break
      await schedule.episode(ctx)
    }
  })()
  // Whatever the schedule does, the watcher is cut once at a seeded moment, so every run
  // resumes a watch on another entry point at least once.
  const cutAtMs = durationMs * (0.3 + watchRng.int(40) / 100)
  const cut = setTimeout(() => ctx.cutWatcher(), cutAtMs)
  const history = await recordHistory({
    transport: memberTransport(runtime.url, seed, entries),
    seed,
    clients: options.clients ?? 8,
    keys: options.keys ?? 4,
    keyPrefix: prefix,
    opsMax: 100_000,
    durationMs,
    requestTimeoutMs: options.requestTimeoutMs ?? 3_000,
    backoffAfterUnknownMs: 100,
  })
  recording = false
  clearTimeout(cut)
  await faults
  await healAll(runtime.url)
  log('healed')

  await waitHealthy(runtime.url, 60_000)
  const endRev = revisionOf(
    await postUntilOk(`${runtime.url}/v3/kv/put`, { key: b64(`${prefix}~end`), value: '' }),
  )
  const watchDeadline = Date.now() + 30_000
  while (watcher.next() <= endRev && Date.now() < watchDeadline) await sleep(50)
  await watcher.stop()
  const replays = await Promise.all(
    MEMBERS.map((m) => replayAt(runtime.url, m, key, rangeEnd, startRev, endRev)),
  )
  const durability = await checkDurability(runtime.url, history, replays, endRev)
  const received = watcher.received.filter(
    (r) => !r.result.events || Number(r.result.events[0]!.kv.mod_revision) <= endRev,
  )
  const watch = checkWatchGuarantees(received, replays[0]!)
  if (watcher.connections() < 2) watch.push('the watcher never reconnected')

  const report = checkHistory(history, { timeMs: 30_000 })
  const violations =
    (report.verdict === 'violation' ? report.violations.length : 0) +
    durability.length +
    watch.length
  const text = [
    `schedule ${schedule.name} (${schedule.description})`,
    summarize(history),
    describeReport(report),
    `durability: ${durability.length === 0 ? `ok (${replays[0]!.length} events on every member, HashKV agrees)` : durability.slice(0, 10).join('\n  ')}`,
    `watch: ${
      watch.length === 0
        ? `ok (${watcher.connections()} connections via ${watcher
            .entries()
            .map((e) => e || FRONT_DOOR)
            .join(',')})`
        : watch.slice(0, 10).join('\n  ')
    }`,
    `faults: ${faultLog.join('; ')}`,
    `replay: ${replayCommand(schedule.name, seed, durationMs)}`,
  ].join('\n')
  return {
    schedule: schedule.name,
    seed,
    history,
    report,
    durability,
    watch,
    faultLog,
    violations,
    undecided: report.verdict === 'unknown',
    text,
  }
}
