// Starts the real local cluster (workerd through Miniflare, real Durable Objects with SQLite)
// for a test file, on a free loopback port, with its data in a fresh temporary folder.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalCluster, type LocalCluster } from '../../scripts/local-cluster.mjs'

/** A running cluster plus helpers to talk to it as an etcd client would. */
export interface TestCluster extends LocalCluster {
  /** POSTs a JSON body (object or raw text) and returns status and parsed JSON (or text). */
  post(path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }>
  get(path: string): Promise<{ status: number; json: unknown; text: string }>
  /** Waits until /health says true (a leader was elected), failing after `timeoutMs`. */
  waitHealthy(timeoutMs?: number): Promise<void>
  /** Stops the cluster and removes its data folder. */
  destroy(): Promise<void>
}

/** Starts a cluster; `vars` override wrangler.toml's [vars]. */
export async function startTestCluster(
  options: { vars?: Record<string, string>; persistDir?: string } = {},
): Promise<TestCluster> {
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), 'edge-etcd-test-'))
  const cluster = await startLocalCluster({ port: 0, persistDir, vars: options.vars })
  const call = async (path: string, init?: RequestInit) => {
    const response = await fetch(cluster.url + path, init)
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, json, text }
  }
  return {
    ...cluster,
    post: (path, body) =>
      call(path, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body ?? {}),
      }),
    get: (path) => call(path),
    waitHealthy: async (timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const r = await call('/health')
        if (r.status === 200) return
        if (Date.now() > deadline) throw new Error(`cluster not healthy: ${r.status} ${r.text}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    destroy: async () => {
      await cluster.stop()
      if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true })
    },
  }
}
