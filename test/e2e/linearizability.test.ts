// Concurrent clients against the real local cluster (workerd, three member Durable Objects),
// through the HTTP front door; the recorded history must be linearizable, also when clients
// give up on requests early. No faults here: the fault schedules are in jepsen.test.ts. The last
// two tests break the system on purpose, in the client's transport (a client served stale
// reads, as a lagging follower answering linearizable reads locally would; writes acknowledged
// but never applied), and the same pipeline must report it.
//
// Replay a failure's op schedule: E2E_SEED=<n> npx vitest run --project integration test/e2e
// A longer soak: E2E_DURATION_MS=120000 (same command).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import {
  httpTransport,
  recordHistory,
  summarize,
  type HttpAnswer,
  type RecordOptions,
  type Transport,
} from './history.ts'
import { checkHistory, describeReport } from './linearizability.ts'

/** The run's seed: E2E_SEED replays one, otherwise a fresh one (printed with every result). */
const SEED =
  process.env['E2E_SEED'] !== undefined
    ? Number(process.env['E2E_SEED'])
    : Math.floor(Math.random() * 2 ** 31)

const replayHint = (seed: number): string =>
  `reproduce: E2E_SEED=${seed} npx vitest run --project integration test/e2e/linearizability.test.ts`

/** How long the clean run records; E2E_DURATION_MS makes a longer soak run. */
const DURATION_MS = Number(process.env['E2E_DURATION_MS'] ?? 10_000)

/** The workload: 8 clients on 4 keys, ~10 s. */
function workload(transport: Transport, seed: number, run: string): RecordOptions {
  return {
    transport,
    seed,
    clients: 8,
    keys: 4,
    keyPrefix: `/lin/${run}/${seed}/`,
    opsMax: 50_000,
    durationMs: DURATION_MS,
    requestTimeoutMs: 5_000,
  }
}

/**
 * Margin between a cached answer's arrival and a later write's invocation. The recorder stamps
 * an op's return after its await resumes, a little after the answer arrived here; the margin
 * keeps that write strictly after the cached read in the history too.
 */
const STALE_MARGIN_MS = 5

/**
 * A test-only bug: `laggingClient`'s reads are answered from a cache of its earlier answer for
 * that key, but only once a write to the key was invoked after that answer arrived and has been
 * acknowledged, so each stale answer served is a genuine violation (a read missing a write that
 * completed before it began), not luck. `staleServed` counts them.
 */
function staleReads(inner: Transport, laggingClient: number) {
  const cache = new Map<string, { answer: HttpAnswer; staleAfterMs: number }>()
  /** Per key: the latest invocation time of an acknowledged write. */
  const lastAckedWriteCallMs = new Map<string, number>()
  const transport = {
    staleServed: 0,
    async post(clientId: number, path: string, body: unknown, signal: AbortSignal) {
      const b = body as {
        key?: string
        success?: { request_put?: { key?: string } }[]
      }
      const key = b.key ?? b.success?.[0]?.request_put?.key ?? ''
      const cached = cache.get(key)
      const isLaggingRead = clientId === laggingClient && path.endsWith('/kv/range')
      const newerWrite = (lastAckedWriteCallMs.get(key) ?? -1) > (cached?.staleAfterMs ?? Infinity)
      if (isLaggingRead && cached && newerWrite) {
        transport.staleServed++
        return cached.answer
      }
      const callMs = performance.now()
      const answer = await inner.post(clientId, path, body, signal)
      const json = answer.json as { succeeded?: boolean } | undefined
      const wrote =
        answer.status === 200 &&
        (path.endsWith('/kv/put') || (path.endsWith('/kv/txn') && json?.succeeded === true))
      if (wrote)
        lastAckedWriteCallMs.set(key, Math.max(callMs, lastAckedWriteCallMs.get(key) ?? -1))
      if (isLaggingRead && answer.status === 200)
        cache.set(key, { answer, staleAfterMs: performance.now() + STALE_MARGIN_MS })
      return answer
    },
  }
  return transport
}

/**
 * A test-only bug: `client`'s puts are acknowledged without being sent, as a leader that
 * acknowledges before the entry commits and then loses it would. The fake answer carries the
 * highest header.revision seen so far, so revisions stay plausible. `dropped` counts them.
 */
function lostWrites(inner: Transport, client: number) {
  let revision = '0'
  const transport = {
    dropped: 0,
    async post(clientId: number, path: string, body: unknown, signal: AbortSignal) {
      if (clientId === client && path.endsWith('/kv/put')) {
        transport.dropped++
        const json = { header: { revision } }
        return { status: 200, json, text: JSON.stringify(json) }
      }
      const answer = await inner.post(clientId, path, body, signal)
      const seen = (answer.json as { header?: { revision?: string } } | undefined)?.header?.revision
      if (seen !== undefined && Number(seen) > Number(revision)) revision = seen
      return answer
    },
  }
  return transport
}

describe('linearizability through the front door (no faults)', () => {
  let cluster: TestCluster
  /** The clean run's 90th percentile latency (the timeout test's timeout). */
  let p90LatencyMs = 100
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it(
    '8 clients doing get/put/cas on 4 keys for 10 s: the history is linearizable',
    {
      timeout: DURATION_MS + 40_000,
    },
    async () => {
      const history = await recordHistory(workload(httpTransport(cluster.url), SEED, 'clean'))
      const report = checkHistory(history, { timeMs: 10_000 })
      const text = `${summarize(history)}\n${describeReport(report)}\n${replayHint(SEED)}`
      console.log(text)
      expect(report.verdict, text).toBe('ok')
      const latencies = history.ops.map((op) => op.elapsedMs).sort((a, b) => a - b)
      const p90 = latencies[Math.floor(latencies.length * 0.9)] ?? 100
      p90LatencyMs = Math.max(5, Math.round(p90))
      // The run must have exercised what it claims to: enough ops, CAS both ways, no timeouts.
      const ok = history.ops.filter((op) => op.outcome === 'ok')
      expect(ok.length, text).toBeGreaterThan(200)
      expect(ok.some((op) => op.output?.kind === 'cas' && op.output.succeeded)).toBe(true)
      expect(ok.some((op) => op.output?.kind === 'cas' && !op.output.succeeded)).toBe(true)
    },
  )

  it('clients that give up early (timeouts become UNKNOWN): still linearizable', async () => {
    // Abandoned requests go on inside the runtime and may still apply; the history must allow
    // for it. The timeout is the clean run's p90 latency: a good share ends UNKNOWN, yet not so
    // many that abandoned requests pile up and nothing completes.
    const transport = httpTransport(cluster.url)
    const options = { ...workload(transport, SEED, 'timeouts'), durationMs: 4_000 }
    const history = await recordHistory({ ...options, requestTimeoutMs: p90LatencyMs })
    const report = checkHistory(history, { timeMs: 10_000 })
    const text = `${summarize(history)}\n${describeReport(report)}\n${replayHint(SEED)}`
    console.log(text)
    expect(report.verdict, text).toBe('ok')
    expect(
      history.ops.some((op) => op.outcome === 'unknown'),
      text,
    ).toBe(true)
    expect(history.ops.filter((op) => op.outcome === 'ok').length, text).toBeGreaterThan(50)
  })

  it('catches a lagging client served stale reads (test-only mutation)', async () => {
    const transport = staleReads(httpTransport(cluster.url), 0)
    const options = { ...workload(transport, SEED, 'stale'), durationMs: 3_000 }
    const history = await recordHistory(options)
    const report = checkHistory(history, { timeMs: 10_000 })
    const text = `${summarize(history)}\n${describeReport(report)}\n${replayHint(SEED)}`
    console.log(`stale answers served: ${transport.staleServed}\n${text}`)
    expect(transport.staleServed, text).toBeGreaterThan(0)
    expect(report.verdict, text).toBe('violation')
    const stale = report.violations.find((v) => v.kind === 'linearizability')
    expect(stale, text).toBeDefined()
    expect(stale!.ops.some((op) => op.clientId === 0 && op.input.kind === 'get')).toBe(true)
  })

  it('catches writes acknowledged but never applied (test-only mutation)', async () => {
    const transport = lostWrites(httpTransport(cluster.url), 1)
    const options = { ...workload(transport, SEED, 'lost'), durationMs: 3_000 }
    const history = await recordHistory(options)
    const report = checkHistory(history, { timeMs: 10_000 })
    const text = `${summarize(history)}\n${describeReport(report)}\n${replayHint(SEED)}`
    console.log(`writes acknowledged but dropped: ${transport.dropped}\n${text}`)
    expect(transport.dropped, text).toBeGreaterThan(0)
    const lost = report.violations.find((v) => v.kind === 'linearizability')
    expect(lost, text).toBeDefined()
    expect(lost!.ops.some((op) => op.clientId === 1 && op.input.kind === 'put')).toBe(true)
  })
})
