// `npm run bench`: the same HTTP load against a 3-member real etcd cluster and the local
// 3-member edge-etcd cluster, in one run, on 127.0.0.1 only; reports req/s, p50/p99 latency and
// errors for both and the ratio edge/etcd, as a table on stdout and as JSON. Absolute numbers
// depend on the machine; the ratios measured side by side are what to compare (DESIGN.md §9).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatJson, gitRevision } from './meta.ts'
import { cpuBetween, snapshotCpu, type CpuSnapshot, type CpuUse } from './cpu.ts'
import { startEdgeCluster, type EdgeCluster } from './edge-cluster.ts'
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.ts'
import { HttpConnection, postRequest } from './http-client.ts'
import { runLoad } from './load.ts'
import { errorReport, markdownTable, type Row, type TargetRun } from './report.ts'
import { SCENARIOS, type Scenario } from './scenarios.ts'

const HELP = `Usage: npm run bench [-- options]

Starts a 3-member etcd cluster (needs etcd 3.4: apt-get install -y etcd-server) and the local
edge-etcd cluster (what \`npm start\` runs), both on 127.0.0.1, and runs the same HTTP load
against both. Prints a table (req/s, p50/p99 latency, errors, server CPU, ratio edge/etcd) and
writes JSON to bench/results/latest.json. Exits 1 if any request failed.

Options:
  --duration S          measured seconds per scenario and target (default 5)
  --warmup S            warm-up seconds before each measurement (default 1)
  --scenarios LIST      comma-separated, from: ${SCENARIOS.map((s) => s.name).join(', ')}
                        (default: all)
  --connections LIST    concurrent keep-alive connections, comma-separated (default 1,16,64)
  --targets LIST        etcd,edge (default both)
  --etcd-endpoints M    all: spread connections over the 3 etcd members, as clientv3 does
                        (default); first: every connection to one member
  --timeout S           per-request timeout in seconds (default 10)
  --data-dir DIR        where both clusters keep their (temporary) data (default: the OS temp
                        dir). /dev/shm (tmpfs) takes fsync cost out of the comparison.
  --out FILE            where to write the JSON (default bench/results/latest.json)
  -h, --help            show this help
`

const benchDir = dirname(fileURLToPath(import.meta.url))

interface Options {
  durationMs: number
  warmupMs: number
  scenarios: Scenario[]
  connections: number[]
  targets: ('etcd' | 'edge')[]
  etcdEndpoints: 'all' | 'first'
  timeoutMs: number
  dataDir: string
  out: string
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      scenarios: { type: 'string' },
      connections: { type: 'string', default: '1,16,64' },
      targets: { type: 'string', default: 'etcd,edge' },
      'etcd-endpoints': { type: 'string', default: 'all' },
      timeout: { type: 'string', default: '10' },
      'data-dir': { type: 'string', default: tmpdir() },
      out: { type: 'string', default: join(benchDir, 'results', 'latest.json') },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const seconds = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number ≥ ${min}, got ${v}`)
    return Math.round(n * 1000)
  }
  const list = (v: string): string[] =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  const scenarios = values.scenarios
    ? list(values.scenarios).map(
        (name) =>
          SCENARIOS.find((s) => s.name === name) ??
          fail(`unknown scenario ${name}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`),
      )
    : SCENARIOS
  const connections = list(values.connections).map((c) => {
    const n = Number(c)
    if (!Number.isInteger(n) || n < 1 || n > 1024) fail(`bad connection count ${c}`)
    return n
  })
  const targets = list(values.targets).map((t) =>
    t === 'etcd' || t === 'edge' ? t : fail(`unknown target ${t}; known: etcd, edge`),
  )
  const etcdEndpoints = values['etcd-endpoints']
  if (etcdEndpoints !== 'all' && etcdEndpoints !== 'first') fail('--etcd-endpoints: all or first')
  if (scenarios.length === 0 || connections.length === 0 || targets.length === 0) {
    fail('nothing to run')
  }
  return {
    durationMs: seconds('duration', values.duration, 0.1),
    warmupMs: seconds('warmup', values.warmup, 0),
    scenarios,
    connections,
    targets,
    etcdEndpoints,
    timeoutMs: seconds('timeout', values.timeout, 0.1),
    dataDir: resolve(values['data-dir']),
    out: resolve(values.out),
  }
}

/** What a target needs for the load: where to connect and which processes to watch. */
interface Target {
  name: 'etcd' | 'edge'
  ports: number[]
  pids: number[]
}

const HOST = '127.0.0.1'

/** Sends one request over a fresh connection; throws unless it is a 200 that passes `check`. */
async function expectOk(
  target: Target,
  path: string,
  body: string,
  check: (b: string) => boolean,
): Promise<void> {
  let lastError = ''
  // Right after start the cluster may still settle (leader hint, first proposals): retry a bit.
  for (let attempt = 0; attempt < 50; attempt++) {
    const conn = new HttpConnection(HOST, target.ports[0]!)
    try {
      const res = await conn.request(postRequest(HOST, path, body), 10_000)
      if (res.status === 200 && check(res.body)) return
      lastError = `HTTP ${res.status}: ${res.body.slice(0, 300)}`
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e)
    } finally {
      conn.close()
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${target.name}: POST ${path} ${body.slice(0, 200)} failed: ${lastError}`)
}

async function main(): Promise<void> {
  const options = parseOptions()
  const loadAverageAtStart = loadavg()[0]
  let etcd: EtcdCluster | undefined
  let edge: EdgeCluster | undefined
  let stopping = false

  const stopAll = async (): Promise<void> => {
    await Promise.allSettled([etcd?.stop(), edge?.stop()])
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // Second Ctrl-C: no more waiting.
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
  // Whatever happens, never leave etcd or workerd running behind us.
  process.on('exit', () => {
    etcd?.killNow()
    edge?.killNow()
  })

  const total =
    options.scenarios.length *
    options.connections.length *
    options.targets.length *
    (options.warmupMs + options.durationMs)
  process.stderr.write(
    `bench: ${options.scenarios.length} scenarios × ${options.connections.length} connection counts × ` +
      `${options.targets.length} targets, ≈${Math.ceil(total / 1000)} s of load\n`,
  )

  const busy = loadavg()[0]! > cpus().length * 0.5
  if (busy) {
    process.stderr.write(
      `bench: WARNING: the machine is busy (load average ${loadavg()[0]!.toFixed(1)} on ` +
        `${cpus().length} CPUs); other work skews the numbers, and not equally for both targets\n`,
    )
  }

  const targets: Target[] = []
  if (options.targets.includes('etcd')) {
    process.stderr.write('bench: starting 3-member etcd on 127.0.0.1…\n')
    etcd = await startEtcdCluster(options.dataDir)
    const ports = etcd.clientUrls.map((u) => Number(new URL(u).port))
    targets.push({
      name: 'etcd',
      ports: options.etcdEndpoints === 'all' ? ports : ports.slice(0, 1),
      pids: etcd.pids,
    })
  }
  if (options.targets.includes('edge')) {
    process.stderr.write('bench: starting local edge-etcd (3 members, one workerd)…\n')
    edge = await startEdgeCluster(options.dataDir)
    installSignalHandlers()
    targets.push({ name: 'edge', ports: [edge.port], pids: edge.pids })
  }
  // Keep the documented order (etcd first) whatever order --targets gave.
  targets.sort((a, b) => (a.name === 'etcd' ? -1 : b.name === 'etcd' ? 1 : 0))

  // Preflight: every target answers every scenario's request correctly before any load runs.
  for (const target of targets) {
    for (const scenario of options.scenarios) {
      for (const s of scenario.setup) await expectOk(target, s.path, s.body, () => true)
      await expectOk(target, scenario.path, scenario.bodies[0]!, scenario.check)
    }
  }

  const rows: Row[] = []
  for (const scenario of options.scenarios) {
    const requests = scenario.bodies.map((b) => postRequest(HOST, scenario.path, b))
    for (const connections of options.connections) {
      const row: Row = { scenario: scenario.name, connections }
      for (const target of targets) {
        if (stopping) return
        let before: CpuSnapshot | undefined
        let cpu: CpuUse | undefined
        let windowStarted = 0
        const generatorBefore = process.cpuUsage()
        const started = performance.now()
        const load = await runLoad(
          {
            host: HOST,
            ports: target.ports,
            requests,
            check: scenario.check,
            connections,
            warmupMs: options.warmupMs,
            durationMs: options.durationMs,
            timeoutMs: options.timeoutMs,
          },
          (phase) => {
            if (phase === 'start') {
              before = snapshotCpu(target.pids)
              windowStarted = performance.now()
            } else if (before) {
              cpu = cpuBetween(
                before,
                snapshotCpu(target.pids),
                (performance.now() - windowStarted) / 1000,
              )
            }
          },
        )
        const used = process.cpuUsage(generatorBefore)
        const generatorCpuPercent =
          ((used.user + used.system) / 1000 / (performance.now() - started)) * 100
        if (stopping) return
        const run: TargetRun = { load, cpu, generatorCpuPercent, loadAverage: loadavg()[0]! }
        row[target.name] = run
        process.stderr.write(
          `  ${scenario.name.padEnd(18)} ×${String(connections).padEnd(3)} ${target.name}: ` +
            `${load.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${load.latencyMs.p50.toFixed(2)} ms  ` +
            `p99 ${load.latencyMs.p99.toFixed(2)} ms  errors ${load.errorCount}\n`,
        )
      }
      if (row.etcd && row.edge) {
        row.ratio = {
          reqPerSec: row.edge.load.reqPerSec / row.etcd.load.reqPerSec,
          p50: row.edge.load.latencyMs.p50 / row.etcd.load.latencyMs.p50,
          p99: row.edge.load.latencyMs.p99 / row.etcd.load.latencyMs.p99,
        }
      }
      rows.push(row)
    }
  }

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
      durationSeconds: options.durationMs / 1000,
      warmupSeconds: options.warmupMs / 1000,
      scenarios: options.scenarios.map((s) => ({ name: s.name, description: s.description })),
      connections: options.connections,
      targets: options.targets,
      etcdEndpoints: options.etcdEndpoints,
      timeoutSeconds: options.timeoutMs / 1000,
      dataDir: options.dataDir,
    },
    notes: [
      'ratio = edge / etcd: req/s above 1 means edge-etcd is faster; p50/p99 above 1 means slower',
      'cpu: % of one core over the measured window, all threads of the target (busiest thread)',
      'errors: non-200 answers, unexpected bodies, timeouts and broken connections in the window',
      'loadAverage: 1-minute load average of the machine when the target run ended (other work)',
    ],
    rows,
  }
  mkdirSync(dirname(options.out), { recursive: true })
  writeFileSync(options.out, await formatJson(JSON.stringify(result, null, 2) + '\n'))

  await stopAll()

  process.stdout.write(`\n${markdownTable(rows)}\n\n`)
  process.stdout.write(
    'ratio = edge/etcd (req/s: >1 edge faster; latency: >1 edge slower). ' +
      'CPU: % of one core, all threads (busiest thread). Latency counts successful requests only:\n' +
      'where a row has errors, its latency and req/s are not comparable.\n',
  )
  const errors = errorReport(rows)
  if (errors) process.stdout.write(`\nERRORS:\n${errors}\n`)
  process.stdout.write(`\nJSON: ${options.out}\n`)
  const failed = rows.some(
    (r) => (r.etcd?.load.errorCount ?? 0) + (r.edge?.load.errorCount ?? 0) > 0,
  )
  process.exitCode = failed ? 1 : 0
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 2
  // The exit hook stops whatever was started.
  process.exit()
})
