// A 3-member real etcd cluster on loopback for the benchmark baseline: three processes, each
// with its own temporary data dir and free client/peer ports, bootstrapped statically with
// --initial-cluster (etcd's "static" clustering, as in its docs and Procfile).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A running etcd cluster. */
export interface EtcdCluster {
  /** Client URL of each member, e.g. http://127.0.0.1:40123. */
  clientUrls: string[]
  /** Process ids of the members. */
  pids: number[]
  version: string
  /** Stops every member (SIGTERM, SIGKILL after 2 s) and removes the data dirs. */
  stop(): Promise<void>
  /** Synchronous last resort for process exit: SIGKILL and remove the data dirs. */
  killNow(): void
}

/** Whether etcd is installed, and its version ("3.4.23"), or undefined. */
export function etcdVersion(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) return undefined
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown'
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/**
 * Starts `size` etcd members on loopback, with their data in a new folder under `parentDir`,
 * and waits until every one reports healthy.
 */
export async function startEtcdCluster(
  parentDir = tmpdir(),
  size = 3,
  timeoutMs = 30_000,
): Promise<EtcdCluster> {
  const version = etcdVersion()
  if (version === undefined) {
    throw new Error('etcd is not installed: apt-get install -y etcd-server etcd-client')
  }
  const dir = mkdtempSync(join(parentDir, 'edge-etcd-bench-etcd-'))
  const members: { name: string; client: string; peer: string }[] = []
  for (let i = 1; i <= size; i++) {
    members.push({
      name: `etcd${i}`,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
    })
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',')
  const procs: ChildProcess[] = []
  const logs: string[] = []
  for (const [i, m] of members.entries()) {
    logs.push('')
    const proc = spawn(
      'etcd',
      [
        `--name=${m.name}`,
        `--data-dir=${join(dir, m.name)}`,
        `--listen-client-urls=${m.client}`,
        `--advertise-client-urls=${m.client}`,
        `--listen-peer-urls=${m.peer}`,
        `--initial-advertise-peer-urls=${m.peer}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=edge-etcd-bench-${process.pid}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    proc.stderr?.on('data', (d: Buffer) => {
      logs[i] = (logs[i] + d.toString()).slice(-4000)
    })
    procs.push(proc)
  }

  const exited = procs.map(
    (p) =>
      new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : p.once('exit', resolve))),
  )
  let stopped = false
  const killNow = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM')
    const timer = setTimeout(() => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    }, 2_000)
    await Promise.all(exited)
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + timeoutMs
  for (const [i, m] of members.entries()) {
    for (;;) {
      try {
        const res = await fetch(`${m.client}/health`)
        const body = (await res.json()) as { health?: string }
        if (res.ok && body.health === 'true') break
      } catch {
        // not up yet
      }
      if (procs[i]!.exitCode !== null || Date.now() > deadline) {
        await stop()
        throw new Error(`etcd member ${m.name} did not start:\n${logs[i]}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return {
    clientUrls: members.map((m) => m.client),
    pids: procs.map((p) => p.pid!),
    version,
    stop,
    killNow,
  }
}
