// `npm run bench:watch`: watch fan-out, the same load against a 3-member etcd 3.4 cluster and the
// local edge-etcd cluster in one run, on 127.0.0.1 only. N watchers on one prefix (etcd's gateway
// HTTP watch streams, spread over etcd's members; edge-etcd's front door places its own), then
// one writer puts at a fixed rate under the prefix. Reports delivery latency from put
// acknowledgement to event receipt over every (watcher, event) pair, missed and duplicated
// events per watcher, server memory per watcher and server CPU during the write phase.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatJson, gitRevision } from './meta.ts'
import { cpuBetween, snapshotCpu, type CpuUse } from './cpu.ts'
import { startEdgeCluster, type EdgeCluster } from './edge-cluster.ts'
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.ts'
import { HttpConnection, postRequest } from './http-client.ts'
import { summarize, type Latency } from './load.ts'
import { createRequestBody, openHttpWatcher, openWsWatcher, type Watcher } from './watch-client.ts'

const HELP = `Usage: npm run bench:watch [-- options]

Starts a 3-member etcd cluster (etcd 3.4) and the local edge-etcd cluster, both on 127.0.0.1,
opens N watchers on one prefix on each, then puts under the prefix at a fixed rate. Prints a table
(delivery latency put-ack → event p50/p99/max, missed/duplicated events, server RSS per watcher,
server CPU during the writes, ratio edge/etcd) and writes JSON. Exits 1 if any watcher missed or
duplicated an event, any watcher failed to open or any put failed.

Options:
  --watchers N          watchers per target (default 1000)
  --rate R              puts per second (default 100)
  --duration S          seconds of writes (default 10)
  --transport T         edge-etcd watch transport: http (default, etcd's gateway stream) or ws
  --targets LIST        etcd,edge (default both)
  --open-concurrency C  watchers being opened at once (default 100)
  --open-timeout S      give up opening watchers after S seconds (default 60)
  --settle S            after the last put answer, wait for late events until every watcher
                        has them all or no watcher received anything for S seconds (default 3)
  --settle-max S        but never longer than S seconds (default 60)
  --writer-connections C  most concurrent puts in flight (default 32; open loop)
  --data-dir DIR        parent of both clusters' temporary data (default: OS temp dir)
  --out FILE            JSON result (default bench/results/latest-watch-fanout.json)
  -h, --help            show this help
`

const benchDir = dirname(fileURLToPath(import.meta.url))
const HOST = '127.0.0.1'
const PREFIX = Buffer.from('/watchbench/')
const PREFIX_END = Buffer.from('/watchbench0') // '/' + 1 = '0'
const KEYS = 100
const VALUE = Buffer.alloc(64, 'v').toString('base64')

interface Options {
  watchers: number
  rate: number
  durationMs: number
  transport: 'http' | 'ws'
  targets: ('etcd' | 'edge')[]
  openConcurrency: number
  openTimeoutMs: number
  settleMs: number
  settleMaxMs: number
  writerConnections: number
  dataDir: string
  out: string
}

function fail(message: string): never {
  process.stderr.write(`bench:watch: ${message}\n`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      watchers: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '100' },
      duration: { type: 'string', default: '10' },
      transport: { type: 'string', default: 'http' },
      targets: { type: 'string', default: 'etcd,edge' },
      'open-concurrency': { type: 'string', default: '100' },
      'open-timeout': { type: 'string', default: '60' },
      settle: { type: 'string', default: '3' },
      'settle-max': { type: 'string', default: '60' },
      'writer-connections': { type: 'string', default: '32' },
      'data-dir': { type: 'string', default: tmpdir() },
      out: { type: 'string', default: join(benchDir, 'results', 'latest-watch-fanout.json') },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const number = (name: string, v: string, min: number, max = Infinity): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be in [${min}, ${max}]`)
    return n
  }
  const transport = values.transport
  if (transport !== 'http' && transport !== 'ws') fail('--transport: http or ws')
  const targets = values.targets
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((t) => (t === 'etcd' || t === 'edge' ? t : fail(`unknown target ${t}`)))
  if (targets.length === 0) fail('nothing to run')
  return {
    watchers: Math.round(number('watchers', values.watchers, 1, 20_000)),
    rate: number('rate', values.rate, 0.1, 10_000),
    durationMs: Math.round(number('duration', values.duration, 0.1) * 1000),
    transport,
    targets,
    openConcurrency: Math.round(number('open-concurrency', values['open-concurrency'], 1)),
    openTimeoutMs: Math.round(number('open-timeout', values['open-timeout'], 1) * 1000),
    settleMs: Math.round(number('settle', values.settle, 0) * 1000),
    settleMaxMs: Math.round(number('settle-max', values['settle-max'], 0) * 1000),
    writerConnections: Math.round(number('writer-connections', values['writer-connections'], 1)),
    dataDir: resolve(values['data-dir']),
    out: resolve(values.out),
  }
}

/** Resident memory of a set of processes, in KiB (VmRSS summed; 0 where /proc is missing). */
function rssKiB(pids: number[]): number {
  let total = 0
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
      if (m) total += Number(m[1])
    } catch {
      // gone
    }
  }
  return total
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** One put under the prefix; returns its revision or throws. */
function putBody(i: number): string {
  const key = Buffer.from(`/watchbench/k${String(i % KEYS).padStart(3, '0')}`).toString('base64')
  return JSON.stringify({ key, value: VALUE })
}

/** The leader's member ID as /v3/maintenance/status reports it (undefined if it fails). */
async function leaderId(port: number): Promise<string | undefined> {
  const conn = new HttpConnection(HOST, port)
  try {
    const res = await conn.request(postRequest(HOST, '/v3/maintenance/status', '{}'), 10_000)
    return /"leader":"(\d+)"/.exec(res.body)?.[1]
  } catch {
    return undefined
  } finally {
    conn.close()
  }
}

/** Sends one put on a fresh connection, retrying while the cluster settles. */
async function putOnce(port: number): Promise<number> {
  let last = ''
  for (let attempt = 0; attempt < 50; attempt++) {
    const conn = new HttpConnection(HOST, port)
    try {
      const res = await conn.request(postRequest(HOST, '/v3/kv/put', putBody(0)), 10_000)
      const rev = /"revision":"(\d+)"/.exec(res.body)?.[1]
      if (res.status === 200 && rev) return Number(rev)
      last = `HTTP ${res.status}: ${res.body.slice(0, 200)}`
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    } finally {
      conn.close()
    }
    await sleep(200)
  }
  throw new Error(`put on port ${port} failed: ${last}`)
}

interface Ack {
  revision: number
  sentAt: number
  ackAt: number
}

interface WriterResult {
  acks: Ack[]
  failed: number
  failureSamples: string[]
  /** How late the writer sent, behind its schedule (all connections busy), in ms. */
  maxLagMs: number
  seconds: number
  /** Puts never sent because the window ended with every connection still busy. */
  notSent: number
}

/** Open-loop writer: a put every 1/rate s, up to `maxConns` in flight, for `durationMs`. */
async function runWriter(
  port: number,
  rate: number,
  durationMs: number,
  maxConns: number,
): Promise<WriterResult> {
  const idle: HttpConnection[] = []
  const all: HttpConnection[] = []
  const acks: Ack[] = []
  const failureSamples: string[] = []
  let failed = 0
  let maxLagMs = 0
  const inFlight = new Set<Promise<void>>()
  const interval = 1000 / rate
  const total = Math.max(1, Math.round((durationMs / 1000) * rate))
  const start = performance.now()
  let sent = 0
  let waiter: (() => void) | undefined
  const release = (c: HttpConnection): void => {
    idle.push(c)
    waiter?.()
  }
  let behind = 0
  while (sent < total) {
    const due = start + sent * interval
    const now = performance.now()
    if (now - start > durationMs) {
      // The server could not keep up: stop at the end of the window, report what was sent.
      behind = total - sent
      break
    }
    if (now < due) {
      await sleep(Math.max(0, due - now - 0.5))
      continue
    }
    let conn = idle.pop()
    if (!conn && all.length < maxConns) {
      conn = new HttpConnection(HOST, port)
      all.push(conn)
    }
    if (!conn) {
      await new Promise<void>((r) => (waiter = r))
      waiter = undefined
      continue
    }
    maxLagMs = Math.max(maxLagMs, performance.now() - due)
    const c = conn
    const i = sent++
    const sentAt = performance.now()
    const p = c
      .request(postRequest(HOST, '/v3/kv/put', putBody(i)), 10_000)
      .then(
        (res) => {
          const ackAt = performance.now()
          const rev = /"revision":"(\d+)"/.exec(res.body)?.[1]
          if (res.status === 200 && rev) acks.push({ revision: Number(rev), sentAt, ackAt })
          else {
            failed++
            if (failureSamples.length < 5) {
              failureSamples.push(`HTTP ${res.status}: ${res.body.slice(0, 200)}`)
            }
          }
        },
        (e: unknown) => {
          failed++
          if (failureSamples.length < 5) failureSamples.push(String(e))
        },
      )
      .finally(() => {
        inFlight.delete(p)
        release(c)
      })
    inFlight.add(p)
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - start) / 1000
  for (const c of all) c.close()
  return { acks, failed, failureSamples, maxLagMs, seconds, notSent: behind }
}

/** What one target measured. */
interface TargetResult {
  target: 'etcd' | 'edge'
  transport: 'http' | 'ws'
  watchersRequested: number
  watchersOpened: number
  openFailures: number
  openFailureSamples: string[]
  openSeconds: number
  /** Watchers per serving member (member_id in the created response). */
  placement: Record<string, number>
  puts: {
    acked: number
    failed: number
    failureSamples: string[]
    perSecond: number
    maxWriterLagMs: number
    notSent: number
    ackLatencyMs: Latency
  }
  delivery: {
    pairs: number
    latencyMs: Latency
    /** The most negative (or smallest) ack → event latency, ms. */
    minMs: number
    /** From the put being sent (not acknowledged) to the event: end-to-end notification time. */
    fromSendMs: Latency
    /** (watcher, event) pairs whose event arrived before the put's answer did. */
    beforeAck: number
    /** Pairs never received, in total and the number of watchers that missed at least one. */
    missed: number
    watchersMissing: number
    missedSamples: string[]
    duplicated: number
    watchersWithDuplicates: number
    duplicateSamples: string[]
    /** Events received for revisions no acknowledged put produced (e.g. a timed-out put). */
    unexpected: number
    /** Watchers whose stream broke or was canceled after creation, with samples. */
    broken: number
    brokenSamples: string[]
    /** How long after the last put answer the last event arrived at any watcher. */
    settleSeconds: number
  }
  rssKiB: { before: number; afterOpen: number; afterWrites: number; perWatcher: number }
  /** Events per event-carrying message (mean over all watchers) and the most in one message. */
  messages: { eventsPerMessage: number; maxEventsPerMessage: number }
  /** The leader's member ID after the writes (to read byMember against). */
  leader: string | undefined
  /** Put sent → event per serving member (member_id of the created response). */
  byMember: Record<string, { watchers: number | undefined; fromSendMs: Latency }>
  /** Per second of the write phase (puts by send time): put ack p50, put sent → event p50/max. */
  timeline: {
    second: number
    puts: number
    ackMsP50: number
    fromSendMsP50: number
    fromSendMsMax: number
  }[]
  cpu: CpuUse | undefined
  /** The bench process's own CPU during the write phase, % of one core. */
  generatorCpuPercent: number
  loadAverage: { atStart: number; atEnd: number }
}

async function openWatchers(
  ports: number[],
  transport: 'http' | 'ws',
  n: number,
  concurrency: number,
  timeoutMs: number,
  isStopping: () => boolean,
): Promise<{ watchers: Watcher[]; failures: string[]; seconds: number }> {
  const body = createRequestBody(PREFIX, PREFIX_END)
  const watchers: Watcher[] = []
  const failures: string[] = []
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n && !isStopping()) {
      const i = next++
      const port = ports[i % ports.length]!
      const w =
        transport === 'ws' ? openWsWatcher(HOST, port, body) : openHttpWatcher(HOST, port, body)
      const left = timeoutMs - (performance.now() - started)
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          w.created,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('open timeout')), Math.max(0, left))
          }),
        ])
        watchers.push(w)
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e))
        w.close()
      } finally {
        clearTimeout(timer)
      }
      if ((watchers.length + failures.length) % 250 === 0) {
        process.stderr.write(`    ${watchers.length} open, ${failures.length} failed\n`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, () => worker()))
  return { watchers, failures, seconds: (performance.now() - started) / 1000 }
}

async function measureTarget(
  name: 'etcd' | 'edge',
  ports: number[],
  pids: number[],
  transport: 'http' | 'ws',
  options: Options,
  isStopping: () => boolean,
  track: (ws: Watcher[]) => void,
): Promise<TargetResult> {
  const loadAtStart = loadavg()[0]!
  process.stderr.write(`bench:watch: ${name}: warming up (puts)…\n`)
  for (const port of ports) await putOnce(port)
  await sleep(1000)
  const rssBefore = rssKiB(pids)

  process.stderr.write(
    `bench:watch: ${name}: opening ${options.watchers} watchers (${transport}, ` +
      `${ports.length} endpoint${ports.length > 1 ? 's' : ''})…\n`,
  )
  const opened = await openWatchers(
    ports,
    transport,
    options.watchers,
    options.openConcurrency,
    options.openTimeoutMs,
    isStopping,
  )
  const watchers = opened.watchers
  track(watchers)
  process.stderr.write(
    `bench:watch: ${name}: ${watchers.length} open in ${opened.seconds.toFixed(1)} s, ` +
      `${opened.failures.length} failed${opened.failures[0] ? ` (e.g. ${opened.failures[0]})` : ''}\n`,
  )
  await sleep(2000)
  const rssAfterOpen = rssKiB(pids)
  const placement: Record<string, number> = {}
  for (const w of watchers) {
    const m = w.memberId ?? 'unknown'
    placement[m] = (placement[m] ?? 0) + 1
  }

  process.stderr.write(
    `bench:watch: ${name}: writing ${options.rate} puts/s for ${options.durationMs / 1000} s…\n`,
  )
  const cpuBefore = snapshotCpu(pids)
  const genBefore = process.cpuUsage()
  const writeStarted = performance.now()
  const writer = await runWriter(
    ports[0]!,
    options.rate,
    options.durationMs,
    options.writerConnections,
  )
  const writeSeconds = (performance.now() - writeStarted) / 1000
  const cpu = cpuBetween(cpuBefore, snapshotCpu(pids), writeSeconds)
  const gen = process.cpuUsage(genBefore)
  const generatorCpuPercent = ((gen.user + gen.system) / 1000 / (writeSeconds * 1000)) * 100

  // Wait for stragglers: every live watcher has every acknowledged revision, or the cap.
  const expected = writer.acks.map((a) => a.revision)
  const lastAckAt = writer.acks.reduce((m, a) => Math.max(m, a.ackAt), 0)
  const settleStart = performance.now()
  const allIn = (): boolean =>
    watchers.every((w) => w.broken !== undefined || expected.every((r) => w.received.has(r)))
  const quiet = (): boolean =>
    performance.now() - Math.max(settleStart, ...watchers.map((w) => w.lastEventAt)) >
    options.settleMs
  while (
    performance.now() - settleStart < options.settleMaxMs &&
    !isStopping() &&
    !allIn() &&
    !quiet()
  ) {
    await sleep(100)
  }
  const lastEventAt = watchers.reduce((m, w) => Math.max(m, w.lastEventAt), 0)
  const settleSeconds = (lastEventAt - lastAckAt) / 1000
  const rssAfterWrites = rssKiB(pids)

  const leader = await leaderId(ports[0]!)

  // Account every (watcher, acknowledged put) pair.
  const ackByRev = new Map(writer.acks.map((a) => [a.revision, a]))
  const latencies: number[] = []
  const fromSend: number[] = []
  let beforeAck = 0
  let missed = 0
  let watchersMissing = 0
  const missedSamples: string[] = []
  let duplicated = 0
  let watchersWithDuplicates = 0
  const duplicateSamples: string[] = []
  let unexpected = 0
  let broken = 0
  const brokenSamples: string[] = []
  watchers.forEach((w, i) => {
    let mine = 0
    const missedRevs: number[] = []
    for (const a of writer.acks) {
      const t = w.received.get(a.revision)
      if (t === undefined) {
        mine++
        if (missedRevs.length < 5) missedRevs.push(a.revision)
        continue
      }
      const latency = t - a.ackAt
      if (latency < 0) beforeAck++
      latencies.push(latency)
      fromSend.push(t - a.sentAt)
    }
    for (const rev of w.received.keys()) if (!ackByRev.has(rev)) unexpected++
    if (mine > 0) {
      watchersMissing++
      missed += mine
      if (missedSamples.length < 10) {
        missedSamples.push(
          `watcher #${i} (member ${w.memberId}): missed ${mine}, e.g. revisions ${missedRevs.join(',')}` +
            (w.broken ? `; stream: ${w.broken}` : ''),
        )
      }
    }
    if (w.duplicates > 0) {
      watchersWithDuplicates++
      duplicated += w.duplicates
      if (duplicateSamples.length < 10) {
        duplicateSamples.push(
          `watcher #${i} (member ${w.memberId}): ${w.duplicates} duplicates, e.g. revisions ${w.duplicateSamples.join(',')}`,
        )
      }
    }
    if (w.broken !== undefined) {
      broken++
      if (brokenSamples.length < 5) brokenSamples.push(`watcher #${i}: ${w.broken}`)
    }
  })
  for (const w of watchers) w.close()
  track([])

  // Per second of the write phase (by when the put was sent): how delivery evolved.
  const timeline: {
    second: number
    puts: number
    ackMsP50: number
    fromSendMsP50: number
    fromSendMsMax: number
  }[] = []
  const bySecond = new Map<number, Ack[]>()
  for (const a of writer.acks) {
    const sec = Math.floor((a.sentAt - writeStarted) / 1000)
    bySecond.set(sec, [...(bySecond.get(sec) ?? []), a])
  }
  for (const [second, acks] of [...bySecond].sort((x, y) => x[0] - y[0])) {
    const d: number[] = []
    for (const w of watchers) {
      for (const a of acks) {
        const t = w.received.get(a.revision)
        if (t !== undefined) d.push(t - a.sentAt)
      }
    }
    const sd = summarize(d)
    timeline.push({
      second,
      puts: acks.length,
      ackMsP50: summarize(acks.map((a) => a.ackAt - a.sentAt)).p50,
      fromSendMsP50: sd.p50,
      fromSendMsMax: sd.max,
    })
  }

  // Per serving member: put sent → event, to tell a stalled member from a slow one.
  const perMember = new Map<string, number[]>()
  for (const w of watchers) {
    const m = w.memberId ?? 'unknown'
    const list = perMember.get(m) ?? []
    for (const a of writer.acks) {
      const t = w.received.get(a.revision)
      if (t !== undefined) list.push(t - a.sentAt)
    }
    perMember.set(m, list)
  }
  // Events per message: many per message means the server sent late (the hub fell behind);
  // one per message arriving late means the bytes were held on the way.
  const eventsReceived = watchers.reduce((n, w) => n + w.received.size + w.duplicates, 0)
  const eventMessages = watchers.reduce((n, w) => n + w.eventMessages, 0)
  const messages = {
    eventsPerMessage: eventMessages > 0 ? eventsReceived / eventMessages : NaN,
    maxEventsPerMessage: watchers.reduce((n, w) => Math.max(n, w.maxEventsPerMessage), 0),
  }
  const byMember = Object.fromEntries(
    [...perMember].map(([m, list]) => [m, { watchers: placement[m], fromSendMs: summarize(list) }]),
  )
  const ackLatency = summarize(writer.acks.map((a) => a.ackAt - a.sentAt))
  return {
    target: name,
    transport,
    watchersRequested: options.watchers,
    watchersOpened: watchers.length,
    openFailures: opened.failures.length,
    openFailureSamples: [...new Set(opened.failures)].slice(0, 5),
    openSeconds: opened.seconds,
    placement,
    puts: {
      acked: writer.acks.length,
      failed: writer.failed,
      failureSamples: writer.failureSamples,
      perSecond: writer.acks.length / writer.seconds,
      maxWriterLagMs: writer.maxLagMs,
      notSent: writer.notSent,
      ackLatencyMs: ackLatency,
    },
    delivery: {
      pairs: watchers.length * writer.acks.length,
      latencyMs: summarize(latencies),
      minMs: latencies.reduce((m, v) => Math.min(m, v), Infinity),
      fromSendMs: summarize(fromSend),
      beforeAck,
      missed,
      watchersMissing,
      missedSamples,
      duplicated,
      watchersWithDuplicates,
      duplicateSamples,
      unexpected,
      broken,
      brokenSamples,
      settleSeconds,
    },
    rssKiB: {
      before: rssBefore,
      afterOpen: rssAfterOpen,
      afterWrites: rssAfterWrites,
      perWatcher: watchers.length > 0 ? (rssAfterOpen - rssBefore) / watchers.length : NaN,
    },
    timeline,
    leader,
    byMember,
    messages,
    cpu,
    generatorCpuPercent,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg()[0]! },
  }
}

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits)
const ms = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(1)
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a / b) || a <= 0 || b <= 0
    ? '–'
    : `${(a / b).toFixed(2)}×`

/** The results as a Markdown table: one row per metric, etcd, edge and edge/etcd. */
function markdownTable(etcd: TargetResult | undefined, edge: TargetResult | undefined): string {
  type Get = (r: TargetResult) => number
  const rows: [string, (r: TargetResult) => string, Get | undefined][] = [
    ['watchers open / requested', (r) => `${r.watchersOpened} / ${r.watchersRequested}`, undefined],
    ['time to open all watchers, s', (r) => fmt(r.openSeconds, 1), (r) => r.openSeconds],
    [
      'watchers per member',
      (r) =>
        Object.values(r.placement)
          .sort((a, b) => b - a)
          .join(' / '),
      undefined,
    ],
    [
      'puts acked (failed, not sent in time)',
      (r) => `${r.puts.acked} (${r.puts.failed}, ${r.puts.notSent})`,
      undefined,
    ],
    ['puts acked per second', (r) => fmt(r.puts.perSecond), (r) => r.puts.perSecond],
    [
      'put ack latency p50 / p99 ms',
      (r) => `${ms(r.puts.ackLatencyMs.p50)} / ${ms(r.puts.ackLatencyMs.p99)}`,
      undefined,
    ],
    ['writer max lag behind schedule, ms', (r) => ms(r.puts.maxWriterLagMs), undefined],
    ['(watcher, event) pairs expected', (r) => String(r.delivery.pairs), undefined],
    [
      'delivery p50 ms (ack → event)',
      (r) => ms(r.delivery.latencyMs.p50),
      (r) => r.delivery.latencyMs.p50,
    ],
    ['delivery p99 ms', (r) => ms(r.delivery.latencyMs.p99), (r) => r.delivery.latencyMs.p99],
    ['delivery max ms', (r) => ms(r.delivery.latencyMs.max), (r) => r.delivery.latencyMs.max],
    [
      'events before their put ack (min ms)',
      (r) => `${r.delivery.beforeAck} (${ms(r.delivery.minMs)})`,
      undefined,
    ],
    [
      'put sent → event p50 / p99 ms',
      (r) => `${ms(r.delivery.fromSendMs.p50)} / ${ms(r.delivery.fromSendMs.p99)}`,
      undefined,
    ],
    [
      'missed events (watchers missing any)',
      (r) => `${r.delivery.missed} (${r.delivery.watchersMissing})`,
      undefined,
    ],
    [
      'duplicated events (watchers with any)',
      (r) => `${r.delivery.duplicated} (${r.delivery.watchersWithDuplicates})`,
      undefined,
    ],
    ['streams broken/canceled', (r) => String(r.delivery.broken), undefined],
    ['last event after last put answer, s', (r) => fmt(r.delivery.settleSeconds, 1), undefined],
    ['server RSS before, MiB', (r) => fmt(r.rssKiB.before / 1024, 0), (r) => r.rssKiB.before],
    [
      'server RSS with watchers, MiB',
      (r) => fmt(r.rssKiB.afterOpen / 1024, 0),
      (r) => r.rssKiB.afterOpen,
    ],
    ['RSS per watcher, KiB', (r) => fmt(r.rssKiB.perWatcher, 1), (r) => r.rssKiB.perWatcher],
    [
      'server CPU % during writes (busiest thread)',
      (r) => (r.cpu ? `${fmt(r.cpu.totalPercent)} (${fmt(r.cpu.busiestThreadPercent)})` : '–'),
      (r) => r.cpu?.totalPercent ?? NaN,
    ],
    ['bench process CPU % during writes', (r) => fmt(r.generatorCpuPercent), undefined],
    [
      'load average start → end',
      (r) => `${fmt(r.loadAverage.atStart, 1)} → ${fmt(r.loadAverage.atEnd, 1)}`,
      undefined,
    ],
  ]
  const header = ['metric', 'etcd', `edge (${edge?.transport ?? 'http'})`, 'edge/etcd']
  const lines = rows.map(([label, show, get]) => [
    label,
    etcd ? show(etcd) : '–',
    edge ? show(edge) : '–',
    get && etcd && edge ? ratio(get(edge), get(etcd)) : '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const row = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  return [row(header), rule, ...lines.map(row)].join('\n')
}

async function main(): Promise<void> {
  const options = parseOptions()
  const loadAverageAtStart = loadavg()[0]!
  let etcd: EtcdCluster | undefined
  let edge: EdgeCluster | undefined
  let live: Watcher[] = []
  let stopping = false
  const closeWatchers = (): void => {
    for (const w of live) w.close()
    live = []
  }
  const stopAll = async (): Promise<void> => {
    closeWatchers()
    await Promise.allSettled([etcd?.stop(), edge?.stop()])
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      etcd?.killNow()
      edge?.killNow()
      process.exit(130)
    }
    stopping = true
    process.stderr.write(`\n${signal}: stopping etcd and edge-etcd…\n`)
    void stopAll().finally(() => process.exit(130))
  }
  const installSignalHandlers = (): void => {
    // Miniflare installs its own SIGINT/SIGTERM hook that exits at once; ours stops everything.
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.removeAllListeners(s)
      process.on(s, onSignal)
    }
  }
  installSignalHandlers()
  process.on('exit', () => {
    closeWatchers()
    etcd?.killNow()
    edge?.killNow()
  })

  if (loadAverageAtStart > cpus().length * 0.5) {
    process.stderr.write(
      `bench:watch: WARNING: the machine is busy (load average ${loadAverageAtStart.toFixed(1)} on ` +
        `${cpus().length} CPUs); other work skews the numbers, and not equally for both targets\n`,
    )
  }

  const results: TargetResult[] = []
  const isStopping = (): boolean => stopping
  const track = (ws: Watcher[]): void => {
    live = ws
  }
  // One target at a time: the other cluster is not even running, so it costs nothing meanwhile.
  for (const name of ['etcd', 'edge'] as const) {
    if (!options.targets.includes(name) || stopping) continue
    if (name === 'etcd') {
      process.stderr.write('bench:watch: starting 3-member etcd on 127.0.0.1…\n')
      etcd = await startEtcdCluster(options.dataDir)
      const ports = etcd.clientUrls.map((u) => Number(new URL(u).port))
      results.push(await measureTarget(name, ports, etcd.pids, 'http', options, isStopping, track))
      await etcd.stop()
    } else {
      process.stderr.write('bench:watch: starting local edge-etcd (3 members, one workerd)…\n')
      edge = await startEdgeCluster(options.dataDir)
      installSignalHandlers()
      results.push(
        await measureTarget(
          name,
          [edge.port],
          edge.pids,
          options.transport,
          options,
          isStopping,
          track,
        ),
      )
      await edge.stop()
    }
    const r = results.at(-1)!
    process.stderr.write(
      `bench:watch: ${name}: delivery p50 ${ms(r.delivery.latencyMs.p50)} ms p99 ` +
        `${ms(r.delivery.latencyMs.p99)} ms max ${ms(r.delivery.latencyMs.max)} ms; missed ` +
        `${r.delivery.missed}, duplicated ${r.delivery.duplicated}, broken ${r.delivery.broken}\n`,
    )
  }
  if (stopping) return

  const etcdResult = results.find((r) => r.target === 'etcd')
  const edgeResult = results.find((r) => r.target === 'edge')
  const result = {
    date: new Date().toISOString(),
    edgeEtcdRevision: gitRevision(),
    etcdVersion: etcd?.version,
    node: process.version,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      platform: process.platform,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg()[0],
    },
    options: {
      watchers: options.watchers,
      rate: options.rate,
      durationSeconds: options.durationMs / 1000,
      edgeTransport: options.transport,
      targets: options.targets,
      openConcurrency: options.openConcurrency,
      settleQuietSeconds: options.settleMs / 1000,
      settleMaxSeconds: options.settleMaxMs / 1000,
      writerConnections: options.writerConnections,
      dataDir: options.dataDir,
      prefix: PREFIX.toString(),
      keys: KEYS,
    },
    notes: [
      'delivery latency: event arrival at a watcher minus the arrival of its put answer at the writer, over every (watcher, acknowledged put) pair; negative when the event came first',
      'etcd watchers are spread round-robin over the 3 members; edge-etcd watchers all go to the front door, which places them',
      'rssKiB.perWatcher = (RSS with watchers open - RSS before) / watchers opened, all server processes',
      'cpu: % of one core over the write phase, all threads of the target (busiest thread)',
      'each target runs alone: etcd is stopped before edge-etcd starts',
    ],
    results,
  }
  mkdirSync(dirname(options.out), { recursive: true })
  writeFileSync(options.out, await formatJson(JSON.stringify(result, null, 2) + '\n'))

  process.stdout.write(`\n${markdownTable(etcdResult, edgeResult)}\n\n`)
  const problems: string[] = []
  for (const r of results) {
    const d = r.delivery
    for (const s of r.openFailureSamples) problems.push(`${r.target}: watcher failed to open: ${s}`)
    if (r.openFailures > 0) problems.push(`${r.target}: ${r.openFailures} watchers failed to open`)
    for (const s of r.puts.failureSamples) problems.push(`${r.target}: put failed: ${s}`)
    for (const s of d.missedSamples) problems.push(`${r.target}: MISSED: ${s}`)
    for (const s of d.duplicateSamples) problems.push(`${r.target}: DUPLICATED: ${s}`)
    for (const s of d.brokenSamples) problems.push(`${r.target}: BROKEN: ${s}`)
    if (d.unexpected > 0) {
      problems.push(`${r.target}: ${d.unexpected} events for revisions no acknowledged put made`)
    }
  }
  if (problems.length > 0) process.stdout.write(`PROBLEMS:\n${problems.join('\n')}\n\n`)
  process.stdout.write(`JSON: ${options.out}\n`)
  const bad = results.some(
    (r) =>
      r.delivery.missed + r.delivery.duplicated + r.openFailures + r.puts.failed > 0 ||
      r.delivery.broken > 0,
  )
  process.exitCode = bad ? 1 : 0
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:watch: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 2
  process.exit()
})
