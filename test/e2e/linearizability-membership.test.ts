// Linearizability while the membership changes: 8 clients doing get/put/cas through the front
// door while an operator scales the cluster 3 → 5 → 3, removing the leader on the way (leadership
// moves first) and adding members that catch up by snapshot + log. The history must be
// linearizable. Replay a failure's op schedule: E2E_SEED=<n> (printed with every result).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpTransport, recordHistory, summarize } from './history.ts'
import { checkHistory, describeReport } from './linearizability.ts'

const SEED =
  process.env['E2E_SEED'] !== undefined
    ? Number(process.env['E2E_SEED'])
    : Math.floor(Math.random() * 2 ** 31)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Member {
  ID: string
  name: string
}

/** The operator: scale out to five (learner + promote, then a voter), then back to three. */
async function scale(cluster: TestCluster): Promise<string[]> {
  const steps: string[] = []
  const call = async (path: string, body: object) => {
    for (let i = 0; ; i++) {
      const r = await cluster.post(path, body)
      if (r.status === 200) return r.json as { member?: Member; members: Member[] }
      // Only "not in sync yet" is worth waiting for; anything else fails the test.
      if (!r.text.includes('in sync with leader') || i > 150) throw new Error(`${path}: ${r.text}`)
      await sleep(200)
    }
  }
  const m4 = (
    await call('/v3/cluster/member/add', { peerURLs: ['http://m4:2380'], isLearner: true })
  ).member!
  await call('/v3/cluster/member/promote', { ID: m4.ID })
  steps.push('m4 added and promoted')
  await sleep(1000)
  await call('/v3/cluster/member/add', { peerURLs: ['http://m5:2380'] })
  steps.push('m5 added')
  await sleep(1000)
  const statuses = (await cluster.get('/_dev/members')).json as {
    name: string
    isLeader: boolean
  }[]
  const leader = statuses.find((s) => s.isLeader)?.name
  const list = (await call('/v3/cluster/member/list', {})).members
  const targets = [leader, leader === 'm4' ? 'm5' : 'm4']
  for (const m of targets.map((name) => list.find((m) => m.name === name)!)) {
    await call('/v3/cluster/member/remove', { ID: m.ID })
    steps.push(`${m.name} removed${m.name === leader ? ' (the leader)' : ''}`)
    await sleep(1000)
  }
  return steps
}

describe('linearizability while members are added and removed', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true', SNAPSHOT_COUNT: '100' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('8 clients doing get/put/cas on 4 keys while the cluster scales 3 → 5 → 3', async () => {
    const recording = recordHistory({
      transport: httpTransport(cluster.url),
      seed: SEED,
      clients: 8,
      keys: 4,
      keyPrefix: `/lin/membership/${SEED}/`,
      opsMax: 50_000,
      durationMs: 12_000,
      requestTimeoutMs: 5_000,
    })
    await sleep(500)
    const steps = await scale(cluster)
    const history = await recording
    const report = checkHistory(history, { timeMs: 10_000 })
    const text = `${steps.join('; ')}\n${summarize(history)}\n${describeReport(report)}\nE2E_SEED=${SEED}`
    expect(steps).toHaveLength(4)
    expect(report.verdict, text).toBe('ok')
    expect(history.ops.filter((op) => op.outcome === 'ok').length, text).toBeGreaterThan(200)
  }, 90_000)
})
