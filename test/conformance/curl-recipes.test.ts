// The curl recipes of etcd's gRPC-gateway guide (etcd v3.4 docs, dev-guide/api_grpc_gateway),
// run unchanged with the real curl binary against real etcd 3.4 and against the local
// edge-etcd cluster; the answers must agree (ignoring cluster_id, member_id and raft_term).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { normalize, requireEtcd, startEtcd, type EtcdProcess } from './etcd.ts'

const run = promisify(execFile)
const haveEtcd = requireEtcd()

/** The recipes, as the docs print them (`http://localhost:2379` is replaced by the target). */
const RECIPES: string[][] = [
  ['-L', '/v3/kv/put', '-X', 'POST', '-d', '{"key": "Zm9v", "value": "YmFy"}'],
  ['-L', '/v3/kv/range', '-X', 'POST', '-d', '{"key": "Zm9v"}'],
  // get all keys prefixed with "foo"
  ['-L', '/v3/kv/range', '-X', 'POST', '-d', '{"key": "Zm9v", "range_end": "Zm9w"}'],
  [
    '-L',
    '/v3/kv/txn',
    '-X',
    'POST',
    '-d',
    '{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}',
  ],
  [
    '-L',
    '/v3/kv/txn',
    '-X',
    'POST',
    '-d',
    '{"compare":[{"version":"4","result":"EQUAL","target":"VERSION","key":"Zm9v"}],"success":[{"requestRange":{"key":"Zm9v"}}]}',
  ],
  ['-L', '/v3/kv/deleterange', '-X', 'POST', '-d', '{"key": "Zm9v"}'],
  ['-L', '/v3/kv/range', '-X', 'POST', '-d', '{"key": "Zm9v"}'],
  ['-L', '/version'],
  ['-L', '/health'],
]

async function curl(baseUrl: string, recipe: string[]): Promise<string> {
  const args = recipe.map((a) => (a.startsWith('/') ? baseUrl + a : a))
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args])
  const [body = '', status = ''] = stdout.split(/\n(?=\d+$)/)
  let parsed: unknown
  try {
    parsed = normalize(JSON.parse(body))
  } catch {
    parsed = body
  }
  return `${status} ${JSON.stringify(parsed)}`
}

describe.skipIf(!haveEtcd)("etcd's curl recipes work unchanged", () => {
  let etcd: EtcdProcess
  let cluster: TestCluster
  beforeAll(async () => {
    ;[etcd, cluster] = await Promise.all([startEtcd(), startTestCluster()])
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await Promise.all([etcd?.stop(), cluster?.destroy()])
  })

  it('gives the same answers as etcd 3.4', async () => {
    for (const recipe of RECIPES) {
      const want = await curl(etcd.url, recipe)
      const got = await curl(cluster.url, recipe)
      // etcd's own /version reports its exact build; both speak 3.4.
      if (recipe[1] === '/version') {
        expect(JSON.parse(got.slice(4))).toMatchObject({ etcdcluster: '3.4.0' })
        continue
      }
      expect(got, `curl ${recipe.join(' ')}`).toBe(want)
    }
  })
})
