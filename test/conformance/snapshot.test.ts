// `POST /v3/maintenance/snapshot` against real etcd 3.4 and the local cluster. The bytes differ
// by nature (etcd streams its bbolt file, edge-etcd its own store format), so what is compared is
// the stream's shape, which is what a client relies on: one `{"result":{...}}` line per chunk
// with only `remaining_bytes` (omitted when 0) and `blob`, `remaining_bytes` counting down to 0,
// and a last chunk that is the SHA-256 of everything before it.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { requireEtcd, startEtcd, type EtcdProcess } from './etcd.ts'

const haveEtcd = requireEtcd()
const b64 = (s: string) => Buffer.from(s).toString('base64')

interface Stream {
  status: number
  contentType: string | null
  /** Each line's result keys, in order. */
  keys: string[][]
  dataChunks: number
  /** remaining_bytes after each data chunk equals total minus the bytes sent so far. */
  countsDown: boolean
  digestMatches: boolean
}

async function snapshotStream(url: string): Promise<Stream> {
  const r = await fetch(`${url}/v3/maintenance/snapshot`, { method: 'POST', body: '{}' })
  const lines = (await r.text()).split('\n').filter((l) => l !== '')
  const results = lines.map((l) => (JSON.parse(l) as { result: Record<string, string> }).result)
  const blobs = results.map((x) => Buffer.from(x.blob ?? '', 'base64'))
  const data = blobs.slice(0, -1)
  const total = data.reduce((n, b) => n + b.length, 0)
  let sent = 0
  let countsDown = true
  for (const [i, chunk] of data.entries()) {
    sent += chunk.length
    countsDown &&= Number(results[i]!.remaining_bytes ?? 0) === total - sent
  }
  const digest = createHash('sha256').update(Buffer.concat(data)).digest()
  return {
    status: r.status,
    contentType: r.headers.get('content-type'),
    keys: [...new Set(results.map((x) => JSON.stringify(Object.keys(x))))].map(
      (k) => JSON.parse(k) as string[],
    ),
    dataChunks: data.length,
    countsDown,
    digestMatches: blobs.at(-1)!.equals(digest),
  }
}

describe.skipIf(!haveEtcd)('snapshot streams agree with etcd 3.4 in shape', () => {
  let etcd: EtcdProcess
  let cluster: TestCluster
  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([startEtcd(), startTestCluster()])
    await cluster.waitHealthy()
  }, 60_000)
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  it('streams 32 KiB chunks counting down, then the SHA-256 of the whole', async () => {
    const value = b64('x'.repeat(2048))
    for (const url of [etcd.url, cluster.url]) {
      for (let i = 0; i < 60; i++) {
        await fetch(`${url}/v3/kv/put`, {
          method: 'POST',
          body: JSON.stringify({ key: b64(`big/${i}`), value }),
        })
      }
    }
    const [theirs, ours] = await Promise.all([
      snapshotStream(etcd.url),
      snapshotStream(cluster.url),
    ])
    expect(theirs.dataChunks).toBeGreaterThan(1)
    expect(ours.dataChunks).toBeGreaterThan(1)
    const comparable = (s: Stream) => ({ ...s, dataChunks: s.dataChunks > 1 })
    expect(comparable(ours)).toEqual(comparable(theirs))
    expect(ours).toMatchObject({ status: 200, countsDown: true, digestMatches: true })
  }, 60_000)
})
