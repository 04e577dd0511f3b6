// The local edge-etcd cluster under test: exactly what `npm start` runs (scripts/local-cluster.mjs:
// the front door and every member Durable Object in one workerd runtime), on a free loopback
// port, with its SQLite data in a fresh temporary folder removed on stop.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalCluster } from '../scripts/local-cluster.mjs'
import { descendantsNamed } from './cpu.ts'

/** A running local edge-etcd cluster. */
export interface EdgeCluster {
  url: string
  port: number
  /** Process ids of the workerd runtime(s) serving it. */
  pids: number[]
  /** Stops the runtime and removes the data folder. */
  stop(): Promise<void>
  /** Synchronous last resort for process exit: SIGKILL workerd and remove the data folder. */
  killNow(): void
}

/**
 * Starts the cluster, with its data in a new folder under `parentDir`, and waits until it has a
 * leader (GET /health answers 200).
 */
export async function startEdgeCluster(
  parentDir = tmpdir(),
  timeoutMs = 30_000,
): Promise<EdgeCluster> {
  const persistDir = mkdtempSync(join(parentDir, 'edge-etcd-bench-edge-'))
  const cluster = await startLocalCluster({ port: 0, persistDir })
  const pids = descendantsNamed(process.pid, 'workerd')
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    try {
      await cluster.stop()
    } finally {
      rmSync(persistDir, { recursive: true, force: true })
    }
  }
  const killNow = (): void => {
    // After an orderly stop the pids may already belong to other processes: leave them alone.
    if (stopped) return
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    rmSync(persistDir, { recursive: true, force: true })
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(`${cluster.url}/health`)
      const body = (await res.json()) as { health?: string }
      if (res.ok && body.health === 'true') break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`edge-etcd did not elect a leader within ${timeoutMs} ms`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return { url: cluster.url, port: cluster.port, pids, stop, killNow }
}
