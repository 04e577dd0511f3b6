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
    waitHealthy: (timeoutMs) => waitHealthy(cluster.url, timeoutMs),
    destroy: async () => {
      await cluster.stop()
      if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true })
    },
  }
}

/** Waits until `<url>/health` says true (a leader was elected), failing after `timeoutMs`. */
export async function waitHealthy(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await fetch(`${url}/health`)
    const text = await r.text()
    if (r.status === 200) return
    if (Date.now() > deadline) throw new Error(`cluster not healthy: ${r.status} ${text}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** One member's HashKV at its current revision (DEV_FAULTS route). */
export interface MemberHash {
  hash: number
  revision: number
}

/**
 * Polls every member's HashKV (DEV_FAULTS) until `settled` holds or ~10 s pass; returns the last
 * answers, so the caller asserts on what the members finally reported.
 */
export async function memberHashes(
  url: string,
  settled: (hashes: MemberHash[]) => boolean,
  names = ['m1', 'm2', 'm3'],
): Promise<MemberHash[]> {
  let hashes: MemberHash[] = []
  for (let i = 0; i < 100; i++) {
    hashes = await Promise.all(
      names.map(
        async (n) => (await (await fetch(`${url}/_dev/members/${n}/hashkv`)).json()) as MemberHash,
      ),
    )
    if (settled(hashes)) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return hashes
}
