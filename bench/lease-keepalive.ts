// `node bench/lease-keepalive.ts [leases] [clients] [seconds]`: keepalives per second for N
// leases on the local edge-etcd cluster, on 127.0.0.1 (etcd not yet: see the end). Each of S clients owns
// N/S leases and, for the duration, sends keepalives for all of them in one keepalive request
// and waits for every answer before the next round (as a client renewing its leases does).
// Prints grants/s, keepalives/s and p50/p99 round time.
import { tmpdir } from 'node:os'
import { performance } from 'node:perf_hooks'
import { startEdgeCluster } from './edge-cluster.ts'

const LEASES = Number(process.argv[2] ?? 10_000)
const STREAMS = Number(process.argv[3] ?? 50)
const SECONDS = Number(process.argv[4] ?? 10)
const GRANT_CONCURRENCY = 32

async function grantAll(urls: string[]): Promise<string[]> {
  const ids: string[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: GRANT_CONCURRENCY }, async (_, w) => {
      while (next < LEASES) {
        next++
        const url = urls[w % urls.length]!
        const r = await fetch(`${url}/v3/lease/grant`, { method: 'POST', body: '{"TTL":600}' })
        const body = (await r.json()) as { ID?: string }
        if (!body.ID) throw new Error(`grant failed: ${JSON.stringify(body)}`)
        ids.push(body.ID)
      }
    }),
  )
  return ids
}

/**
 * One client's keepalive loop: rounds until `endAt`, each one keepalive request (etcd's gateway
 * stream shape: every ID in one body) answered line by line; returns round times. (etcd's
 * gateway over HTTP/1.1 answers only once the request body ended, so each round is a request.)
 */
async function stream(url: string, ids: string[], endAt: number): Promise<number[]> {
  const body = ids.map((id) => `{"ID":"${id}"}\n`).join('')
  const times: number[] = []
  while (Date.now() < endAt) {
    const t = performance.now()
    const res = await fetch(`${url}/v3/lease/keepalive`, { method: 'POST', body })
    const lines = (await res.text()).split('\n').filter((l) => l !== '')
    if (lines.length !== ids.length || !lines.every((l) => l.includes('"TTL":"600"'))) {
      throw new Error(`bad keepalive answers: ${lines.length} of ${ids.length}: ${lines[0]}`)
    }
    times.push(performance.now() - t)
  }
  return times
}

async function measure(name: string, urls: string[]) {
  const g0 = performance.now()
  const ids = await grantAll(urls)
  const grantS = (performance.now() - g0) / 1000
  const per = Math.ceil(ids.length / STREAMS)
  const endAt = Date.now() + SECONDS * 1000
  const t0 = performance.now()
  const rounds = await Promise.all(
    Array.from({ length: STREAMS }, (_, i) =>
      stream(urls[i % urls.length]!, ids.slice(i * per, (i + 1) * per), endAt),
    ),
  )
  const elapsedS = (performance.now() - t0) / 1000
  const total = rounds.reduce(
    (n, r, i) => n + r.length * ids.slice(i * per, (i + 1) * per).length,
    0,
  )
  const all = rounds.flat().sort((a, b) => a - b)
  const pct = (p: number) => all[Math.min(all.length - 1, Math.floor(p * all.length))]!
  const result = {
    name,
    leases: ids.length,
    grantsPerS: Math.round(ids.length / grantS),
    keepalivesPerS: Math.round(total / elapsedS),
    roundP50Ms: Math.round(pct(0.5)),
    roundP99Ms: Math.round(pct(0.99)),
  }
  console.log(JSON.stringify(result))
  return result
}

// etcd's gateway ends a keepalive stream when the request body ends, dropping the answers
// still in flight (seen: 17 of 50), so the same loop cannot measure etcd: edge-etcd only for now.
const edge = await startEdgeCluster(tmpdir())
try {
  await measure('edge-etcd', [edge.url])
} finally {
  await edge.stop()
}
