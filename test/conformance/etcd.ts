// Conformance harness: real etcd 3.4 on loopback, and the targets a conformance sequence runs
// against. A target is anything that answers `POST <path>` with a status and a JSON body: real
// etcd over HTTP, our pure stack in-process (decode → KvStore over node:sqlite → encode), and
// later the running edge-etcd cluster over HTTP (httpTarget works for it unchanged).
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KvStore } from '../../src/mvcc/kv-store.ts'
import { handleKv, kvRouteOf } from '../../src/api/kv-service.ts'
import { mvccSql } from '../support/node-sql.ts'
import type { NodeSql } from '../support/node-sql.ts'

/** What a target answers. `json` is the parsed body (undefined if it is not JSON). */
export interface TargetResponse {
  status: number
  text: string
  json: unknown
}

/** Something that speaks etcd's v3 JSON API. */
export interface KvTarget {
  readonly name: string
  post(path: string, body: string | object): Promise<TargetResponse>
}

/** The message printed when etcd is missing. */
export const INSTALL_HINT = 'install etcd: apt-get install -y etcd-server etcd-client'

/** Whether the `etcd` binary is on PATH. */
export function etcdInstalled(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0
}

/**
 * Whether the conformance suite can run. Without etcd it is skipped with INSTALL_HINT, except in
 * CI (CI=true), where a missing etcd is an error: CI must never silently skip conformance.
 */
export function requireEtcd(): boolean {
  if (etcdInstalled()) return true
  if (process.env['CI'] === 'true') throw new Error(`etcd is missing in CI: ${INSTALL_HINT}`)
  console.warn(`conformance suite skipped: ${INSTALL_HINT}`)
  return false
}

async function freePort(): Promise<number> {
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

function bodyText(body: string | object): string {
  return typeof body === 'string' ? body : JSON.stringify(body)
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A target over HTTP (real etcd, or a running edge-etcd). */
export function httpTarget(name: string, baseUrl: string): KvTarget {
  return {
    name,
    async post(path, body) {
      const res = await fetch(baseUrl + path, { method: 'POST', body: bodyText(body) })
      const text = await res.text()
      return { status: res.status, text, json: parseMaybe(text) }
    },
  }
}

/** A real etcd 3.4 started on free loopback ports with a temporary data dir. */
export interface EtcdProcess {
  url: string
  target: KvTarget
  /** Runs etcdctl against this etcd; returns stdout. */
  etcdctl(...args: string[]): string
  stop(): Promise<void>
}

/** Starts etcd (with `extraArgs`, e.g. a quota) and waits until it serves; throws after 30 s. */
export async function startEtcd(extraArgs: string[] = []): Promise<EtcdProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-etcd-conformance-'))
  const clientPort = await freePort()
  const peerPort = await freePort()
  const url = `http://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--name=conformance',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=conformance=${peer}`,
      '--initial-cluster-state=new',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let log = ''
  proc.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) proc.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') break
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`etcd did not start:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    target: httpTarget('etcd', url),
    etcdctl: (...args) => {
      const r = spawnSync('etcdctl', [`--endpoints=${url}`, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        encoding: 'utf8',
      })
      if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    },
    stop,
  }
}

/** Our pure stack in-process: decode → KvStore over node:sqlite → encode. */
export class LocalTarget implements KvTarget {
  readonly name = 'edge-etcd (in-process)'
  readonly sql: NodeSql = mvccSql()
  readonly store = new KvStore(this.sql)

  async post(path: string, body: string | object): Promise<TargetResponse> {
    const route = kvRouteOf(path)
    if (route === null) return { status: 404, text: 'Not Found', json: undefined }
    const res = this.sql.transactionSync(() =>
      handleKv(this.store, route, bodyText(body), { clusterId: '1', memberId: '2', raftTerm: '3' }),
    )
    return { status: res.status, text: res.body, json: parseMaybe(res.body) }
  }
}

/**
 * A response with what differs between members and clusters removed: cluster_id, member_id and
 * raft_term of the top-level header.
 */
export function normalize(json: unknown): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json
  const o = { ...(json as Record<string, unknown>) }
  const header = o['header']
  if (header !== null && typeof header === 'object') {
    const h = { ...(header as Record<string, unknown>) }
    delete h['cluster_id']
    delete h['member_id']
    delete h['raft_term']
    o['header'] = h
  }
  return o
}
