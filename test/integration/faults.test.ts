// Faults from an etcd client's point of view: an isolated old leader must not serve a stale
// linearizable read, and killing the whole local runtime with SIGKILL in the middle of a stream
// of writes loses no acknowledged write, after which every member holds the same data.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  memberHashes,
  startTestCluster,
  waitHealthy,
  type TestCluster,
} from '../support/cluster.ts'
import { freePort, startLauncher, type LauncherProcess } from '../support/process.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

interface DevStatus {
  name: string
  isLeader: boolean
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(url, init)
  const text = await r.text()
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T }
}

async function leaderOf(url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const all = (await json<DevStatus[]>(`${url}/_dev/members`)).body
    const leader = all.find((s) => s.isLeader)
    if (leader) return leader.name
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('no leader')
}

describe('an isolated old leader', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('serves no linearizable read, while the rest of the cluster moves on', async () => {
    expect((await cluster.post('/v3/kv/put', { key: b64('k'), value: b64('old') })).status).toBe(
      200,
    )
    const oldLeader = await leaderOf(cluster.url)
    await cluster.post(`/_dev/members/${oldLeader}/isolate`)
    try {
      const write = await cluster.post('/v3/kv/put', { key: b64('k'), value: b64('new') })
      expect(write.status).toBe(200)

      const stale = await cluster.post(`/_dev/members/${oldLeader}/kv/range`, { key: b64('k') })
      expect(stale.status).toBe(503)
      expect(stale.json).toMatchObject({ code: 14 })

      // Serializable reads may be stale by definition: the old leader still answers them.
      const local = await cluster.post(`/_dev/members/${oldLeader}/kv/range`, {
        key: b64('k'),
        serializable: true,
      })
      expect(local.status).toBe(200)
      expect(local.json).toMatchObject({ kvs: [{ value: b64('old') }] })

      const fresh = await cluster.post('/v3/kv/range', { key: b64('k') })
      expect(fresh.json).toMatchObject({ kvs: [{ value: b64('new') }] })
    } finally {
      await cluster.post(`/_dev/members/${oldLeader}/heal`)
    }
  })
})

describe('lossy and slow links', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('keep writes and linearizable reads working, and the members converge', async () => {
    // m1 loses 30 % of what it sends; m2's batches take up to 40 ms (and overtake each other).
    await cluster.post('/_dev/members/m1/drop?value=0.3')
    await cluster.post('/_dev/members/m2/delay?value=40')
    let last = 0
    try {
      for (let i = 0; i < 30; i++) {
        const w = await cluster.post('/v3/kv/put', {
          key: b64(`lossy-${i % 5}`),
          value: b64(`${i}`),
        })
        expect(w.status).toBe(200)
        last = Number((w.json as { header: { revision: string } }).header.revision)
        const r = await cluster.post('/v3/kv/range', { key: b64(`lossy-${i % 5}`) })
        expect(r.json).toMatchObject({ kvs: [{ value: b64(`${i}`) }] })
      }
    } finally {
      for (const m of ['m1', 'm2']) await cluster.post(`/_dev/members/${m}/heal`)
    }
    const hashes = await memberHashes(cluster.url, (hs) => hs.every((h) => h.revision >= last))
    expect(new Set(hashes.map((h) => `${h.revision}/${h.hash}`)).size).toBe(1)
  })
})

describe('kill -9 of the whole local runtime', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-etcd-kill-'))
  let run: LauncherProcess | undefined
  afterAll(async () => {
    await run?.killHard()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('loses no acknowledged write, and the members agree afterwards', async () => {
    const port = await freePort()
    run = await startLauncher(port, dataDir, ['--var', 'DEV_FAULTS=true'])
    await waitHealthy(run.url)

    // Eight writers put sequential keys until the runtime dies under them.
    const acknowledged: string[] = []
    let killed = false
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !killed; i++) {
        const key = `w${w}-${i}`
        try {
          const r = await fetch(`${run!.url}/v3/kv/put`, {
            method: 'POST',
            body: JSON.stringify({ key: b64(key), value: b64(`${i}`) }),
          })
          if (r.status === 200) acknowledged.push(key)
          else await r.text()
        } catch {
          // the connection died with the runtime: outcome unknown, not acknowledged
        }
      }
    })
    await new Promise((r) => setTimeout(r, 2_000))
    killed = true
    await run.killHard()
    await Promise.all(writers)
    expect(acknowledged.length).toBeGreaterThan(10)

    run = await startLauncher(port, dataDir, ['--var', 'DEV_FAULTS=true'])
    await waitHealthy(run.url)
    const missing: string[] = []
    for (const key of acknowledged) {
      const r = await json<{ kvs?: unknown[] }>(`${run.url}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(key) }),
      })
      if (r.status !== 200 || !r.body.kvs) missing.push(key)
    }
    expect(missing).toEqual([])

    // Every member reaches the same revision with the same HashKV.
    const hashes = await memberHashes(run.url, (hs) =>
      hs.every((h) => h.revision === hs[0]!.revision),
    )
    expect(new Set(hashes.map((h) => h.revision)).size).toBe(1)
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1)
  })
})
