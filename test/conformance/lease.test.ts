// The Lease API against real etcd 3.4: the same requests, in the same order, on a fresh etcd and
// a fresh local edge-etcd cluster, give the same statuses and bodies (ignoring cluster_id,
// member_id and raft_term). IDs the server picks differ, so they are compared by role (each
// replaced by the name of the step that created it); remaining TTLs are compared within a second.
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { normalize, requireEtcd, startEtcd, type EtcdProcess } from './etcd.ts'

const haveEtcd = requireEtcd()
const b64 = (s: string) => Buffer.from(s).toString('base64')

/** One step: a POST, or a keepalive stream / WebSocket exchange. */
type Step =
  | { name: string; path: string; body: string | object; ttlTolerance?: boolean }
  | { name: string; stream: string[] }
  | { name: string; socket: object[] }
  | { name: string; get: string }

const STEPS: Step[] = [
  { name: 'grant with an ID', path: '/v3/lease/grant', body: { TTL: '60', ID: '100' } },
  { name: 'grant below the minimum', path: '/v3/lease/grant', body: { TTL: 1 } },
  { name: 'grant without a TTL', path: '/v3/lease/grant', body: {} },
  { name: 'grant an empty body', path: '/v3/lease/grant', body: '' },
  { name: 'grant a negative ID', path: '/v3/lease/grant', body: { TTL: '30', ID: '-7' } },
  {
    name: 'grant the largest ID',
    path: '/v3/lease/grant',
    body: { TTL: '30', ID: '9223372036854775807' },
  },
  { name: 'grant a duplicate ID', path: '/v3/lease/grant', body: { TTL: '10', ID: '100' } },
  { name: 'grant too large a TTL', path: '/v3/lease/grant', body: { TTL: '9000000001' } },
  { name: 'grant a huge TTL', path: '/v3/lease/grant', body: { TTL: '9223372036854775807' } },
  {
    name: 'grant lowercase fields (ignored)',
    path: '/v3beta/lease/grant',
    body: { ttl: '10', id: '5' },
  },
  { name: 'grant bad JSON', path: '/v3/lease/grant', body: 'xx' },
  { name: 'grant a fractional TTL', path: '/v3/lease/grant', body: '{"TTL":"1.5"}' },
  { name: 'grant a bool TTL', path: '/v3/lease/grant', body: '{"TTL":true}' },
  {
    name: 'grant an out-of-range ID',
    path: '/v3/lease/grant',
    body: '{"ID":"9223372036854775808"}',
  },
  {
    name: 'put a on 100',
    path: '/v3/kv/put',
    body: { key: b64('a'), value: b64('1'), lease: '100' },
  },
  {
    name: 'put b on 100',
    path: '/v3/kv/put',
    body: { key: b64('b'), value: b64('1'), lease: '100' },
  },
  {
    name: 'put c on -7',
    path: '/v3/kv/put',
    body: { key: b64('c'), value: b64('1'), lease: '-7' },
  },
  {
    name: 'put on a big ID',
    path: '/v3/kv/put',
    body: { key: b64('d'), lease: '9223372036854775807' },
  },
  { name: 'put on an unknown lease', path: '/v3/kv/put', body: { key: b64('x'), lease: '999' } },
  {
    name: 'txn put on an unknown lease',
    path: '/v3/kv/txn',
    body: { success: [{ request_put: { key: b64('y'), lease: '999' } }] },
  },
  {
    name: 'timetolive with keys',
    path: '/v3/lease/timetolive',
    body: { ID: '100', keys: true },
    ttlTolerance: true,
  },
  {
    name: 'timetolive alias',
    path: '/v3/kv/lease/timetolive',
    body: { ID: '-7' },
    ttlTolerance: true,
  },
  { name: 'timetolive unknown', path: '/v3/lease/timetolive', body: { ID: '999', keys: true } },
  { name: 'timetolive empty body', path: '/v3/lease/timetolive', body: '' },
  { name: 'timetolive bad keys', path: '/v3/lease/timetolive', body: '{"ID":"1","keys":"true"}' },
  { name: 'keepalive stream', stream: ['{"ID":"100"}', '{"ID":"999"}\n{"ID":"-7"}'] },
  { name: 'keepalive bad first request', stream: ['{"ID":"abc"}'] },
  { name: 'keepalive not an object', stream: ['[{"ID":"100"}]'] },
  { name: 'keepalive empty', stream: [] },
  { name: 'keepalive over WebSocket', socket: [{ ID: '100' }, { ID: '12345' }] },
  { name: 'leases alias', path: '/v3/kv/lease/leases', body: {} },
  { name: 'leases bad JSON', path: '/v3/lease/leases', body: 'xx' },
  {
    name: 'detach b (put without lease)',
    path: '/v3/kv/put',
    body: { key: b64('b'), value: b64('2') },
  },
  { name: 'revoke 100', path: '/v3/lease/revoke', body: { ID: '100' } },
  {
    name: 'range after revoke',
    path: '/v3/kv/range',
    body: { key: b64('a'), range_end: b64('z') },
  },
  { name: 'revoke again', path: '/v3/lease/revoke', body: { ID: '100' } },
  { name: 'revoke alias unknown', path: '/v3/kv/lease/revoke', body: { ID: '999' } },
  { name: 'revoke ID 0', path: '/v3/lease/revoke', body: {} },
  { name: 'revoke bad JSON', path: '/v3/lease/revoke', body: '{"ID":"abc"}' },
  { name: 'revoke without keys', path: '/v3/lease/revoke', body: { ID: '9223372036854775807' } },
  { name: 'timetolive revoked', path: '/v3/lease/timetolive', body: { ID: '100' } },
  { name: 'GET grant', get: '/v3/lease/grant' },
]

/** IDs the server picked, by the step that got them: replaced by `<step name>` to compare. */
type Ids = Map<string, string>

function relabel(value: unknown, ids: Ids): unknown {
  if (typeof value === 'string' && ids.has(value)) return `<${ids.get(value)}>`
  if (Array.isArray(value)) return value.map((v) => relabel(v, ids))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relabel(v, ids)]))
  }
  return value
}

/** Normalizes an answer; records a server-picked grant ID under the step's name. */
function comparable(step: Step, json: unknown, ids: Ids): unknown {
  const o = normalize(json) as Record<string, unknown> | undefined
  if (o && 'path' in step && step.path.endsWith('/lease/grant')) {
    const requested = typeof step.body === 'object' && 'ID' in step.body
    if (!requested && typeof o['ID'] === 'string') ids.set(o['ID'], step.name)
  }
  return relabel(o, ids)
}

async function keepAliveStream(baseUrl: string, chunks: string[]): Promise<string> {
  const res = await fetch(`${baseUrl}/v3/lease/keepalive`, {
    method: 'POST',
    body: chunks.join(''),
  })
  const text = await res.text()
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.stringify(normalizeResult(JSON.parse(l))))
  return `${res.status} ${lines.join('\n')}`
}

function normalizeResult(json: { result?: unknown }): unknown {
  return json.result === undefined ? normalize(json) : { result: normalize(json.result) }
}

async function keepAliveSocket(baseUrl: string, requests: object[]): Promise<string[]> {
  const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}/v3/lease/keepalive`)
  const frames: string[] = []
  await new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve())
    ws.on('error', reject)
  })
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      frames.push(JSON.stringify(normalizeResult(JSON.parse(data.toString()))))
      if (frames.length === requests.length) resolve()
    })
    setTimeout(() => reject(new Error(`keepalive socket: got ${frames.length} frames`)), 10_000)
  })
  for (const r of requests) ws.send(JSON.stringify(r))
  await done
  ws.close()
  return frames
}

/** Runs every step on a target; returns one comparable line (or object) per step. */
async function run(baseUrl: string): Promise<{ name: string; answer: unknown }[]> {
  const ids: Ids = new Map()
  const out: { name: string; answer: unknown }[] = []
  for (const step of STEPS) {
    if ('stream' in step) {
      out.push({ name: step.name, answer: await keepAliveStream(baseUrl, step.stream) })
    } else if ('socket' in step) {
      out.push({ name: step.name, answer: await keepAliveSocket(baseUrl, step.socket) })
    } else if ('get' in step) {
      const res = await fetch(baseUrl + step.get)
      await res.text()
      out.push({ name: step.name, answer: res.status })
    } else {
      const res = await fetch(baseUrl + step.path, {
        method: 'POST',
        body: typeof step.body === 'string' ? step.body : JSON.stringify(step.body),
      })
      const text = await res.text()
      let json: unknown = text
      try {
        json = JSON.parse(text)
      } catch {
        // a text answer
      }
      out.push({
        name: step.name,
        answer: { status: res.status, body: comparable(step, json, ids) },
      })
    }
    // The short leases granted by the early steps would expire mid-run: revoke them at once.
    if ('path' in step && step.path.endsWith('/lease/grant')) {
      for (const [id, name] of ids) {
        if (name !== step.name) continue
        await fetch(`${baseUrl}/v3/lease/revoke`, {
          method: 'POST',
          body: JSON.stringify({ ID: id }),
        })
      }
    }
  }
  return out
}

/** Splits a remaining TTL out of an answer, so it can be compared within a second. */
function withoutTtl(answer: unknown): { rest: unknown; ttl: number | undefined } {
  const a = answer as { body?: { TTL?: string } }
  if (a.body?.TTL === undefined) return { rest: answer, ttl: undefined }
  const { TTL, ...body } = a.body
  return { rest: { ...a, body }, ttl: Number(TTL) }
}

describe.skipIf(!haveEtcd)('the Lease API agrees with etcd 3.4', () => {
  let etcd: EtcdProcess
  let cluster: TestCluster
  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([startEtcd(), startTestCluster()])
    await cluster.waitHealthy()
  }, 60_000)
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  it('answers every lease endpoint and error as etcd does', async () => {
    const want = await run(etcd.url)
    const got = await run(cluster.url)
    expect(got.map((s) => s.name)).toEqual(want.map((s) => s.name))
    for (let i = 0; i < want.length; i++) {
      const step = STEPS[i]!
      if ('ttlTolerance' in step && step.ttlTolerance) {
        const w = withoutTtl(want[i]!.answer)
        const g = withoutTtl(got[i]!.answer)
        expect(g.rest, step.name).toEqual(w.rest)
        expect(
          Math.abs(g.ttl! - w.ttl!),
          `${step.name}: TTL ${g.ttl} vs ${w.ttl}`,
        ).toBeLessThanOrEqual(1)
      } else {
        expect(got[i]!.answer, step.name).toEqual(want[i]!.answer)
      }
    }
  }, 120_000)

  it('lists the same leases', async () => {
    // After the sequence only -7 is left on both (100 and the big ID were revoked).
    const answers = await Promise.all(
      [etcd.url, cluster.url].map(async (url) => {
        const res = await fetch(`${url}/v3/lease/leases`, { method: 'POST', body: '{}' })
        return { status: res.status, body: normalize(await res.json()) }
      }),
    )
    expect(answers[1]).toEqual(answers[0])
    expect(answers[0]!.body).toMatchObject({ leases: [{ ID: '-7' }] })
  })
})
