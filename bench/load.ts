// The load generator: N closed-loop connections, each sending its next request as soon as the
// previous answer arrived (as wrk and etcd's `benchmark` tool do), for a warm-up and then a fixed
// measurement window. Only requests that complete inside the window count: their number over the
// window's length is the throughput, and their latencies give the percentiles. Every answer that
// is not a 200 with the expected body, every timeout and every broken connection is an error,
// counted by kind; errors never count as throughput and never enter the latency percentiles.
import { performance } from 'node:perf_hooks'
import { HttpConnection } from './http-client.ts'

/** What to send and how to tell a good answer. */
export interface LoadSpec {
  host: string
  /** Ports to connect to; connection i uses ports[i % ports.length]. */
  ports: number[]
  /** Pre-serialized requests; connection i sends requests[(i + k * connections) % n] in turn. */
  requests: Buffer[]
  /** Whether a 200 response body is the expected one. */
  check: (body: string) => boolean
  connections: number
  warmupMs: number
  durationMs: number
  timeoutMs: number
}

/** Latency percentiles in milliseconds. */
export interface Latency {
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** What one load run measured. */
export interface LoadResult {
  /** Successful requests completed inside the measurement window. */
  ok: number
  /** Errors inside the measurement window, by kind: "http 503", "bad body", "timeout", ... */
  errors: Record<string, number>
  errorCount: number
  /** One example answer per error kind, to diagnose. */
  errorSamples: Record<string, string>
  /** The measured window in seconds. */
  seconds: number
  reqPerSec: number
  latencyMs: Latency
  /** Errors during warm-up (not counted above, but reported). */
  warmupErrors: number
  /** Sockets opened beyond one per connection (reconnects after errors or Connection: close). */
  reconnects: number
}

/** Percentile by nearest rank over sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

/** Summarizes latencies (milliseconds). */
export function summarize(samples: number[]): Latency {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  }
}

/**
 * Runs the load and returns what the measurement window saw. `onWindow` is called when the
 * window opens and closes (to sample CPU use over exactly that time).
 */
export async function runLoad(
  spec: LoadSpec,
  onWindow?: (phase: 'start' | 'end') => void,
): Promise<LoadResult> {
  const t0 = performance.now()
  const windowStart = t0 + spec.warmupMs
  const windowEnd = windowStart + spec.durationMs
  const latencies: number[] = []
  const errors: Record<string, number> = {}
  const errorSamples: Record<string, string> = {}
  let warmupErrors = 0
  let ok = 0

  const countError = (kind: string, sample: string, at: number): void => {
    if (at < windowStart) {
      warmupErrors++
      return
    }
    if (at > windowEnd) return
    errors[kind] = (errors[kind] ?? 0) + 1
    errorSamples[kind] ??= sample.slice(0, 300)
  }

  // The window's start and end, reported once each; the end also when every loop finished
  // before its timer fired (the timers may run a little after the loops saw the clock pass).
  let phase: 'warmup' | 'window' | 'done' = 'warmup'
  const openWindow = (): void => {
    if (phase !== 'warmup') return
    phase = 'window'
    onWindow?.('start')
  }
  const closeWindow = (): void => {
    if (phase !== 'window') return
    phase = 'done'
    onWindow?.('end')
  }
  const windowTimers = [
    setTimeout(openWindow, Math.max(0, windowStart - performance.now())),
    setTimeout(closeWindow, Math.max(0, windowEnd - performance.now())),
  ]

  const connections = Array.from(
    { length: spec.connections },
    (_, i) => new HttpConnection(spec.host, spec.ports[i % spec.ports.length]!),
  )
  const loop = async (conn: HttpConnection, index: number): Promise<void> => {
    let next = index % spec.requests.length
    while (performance.now() < windowEnd) {
      const bytes = spec.requests[next]!
      next = (next + spec.connections) % spec.requests.length
      const start = performance.now()
      try {
        const res = await conn.request(bytes, spec.timeoutMs)
        const end = performance.now()
        if (res.status !== 200) countError(`http ${res.status}`, res.body, end)
        else if (!spec.check(res.body)) countError('bad body', res.body, end)
        else if (end >= windowStart && end <= windowEnd) {
          ok++
          latencies.push(end - start)
        }
      } catch (e) {
        const end = performance.now()
        const message = e instanceof Error ? e.message : String(e)
        countError(message.startsWith('timeout') ? 'timeout' : 'connection', message, end)
        // Do not spin on a dead server: back off briefly before reconnecting.
        await new Promise((r) => setTimeout(r, 10))
      }
    }
  }
  try {
    await Promise.all(connections.map((c, i) => loop(c, i)))
  } finally {
    for (const t of windowTimers) clearTimeout(t)
    closeWindow()
    for (const c of connections) c.close()
  }
  const seconds = spec.durationMs / 1000
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0)
  const reconnects = connections.reduce((a, c) => a + Math.max(0, c.opened - 1), 0)
  return {
    ok,
    errors,
    errorCount,
    errorSamples,
    seconds,
    reqPerSec: ok / seconds,
    latencyMs: summarize(latencies),
    warmupErrors,
    reconnects,
  }
}
