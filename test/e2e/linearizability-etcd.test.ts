// Baseline: the same recorder and checker against real etcd 3.4 (single member on loopback).
// etcd is linearizable, so this must pass; if it ever fails, suspect the checker or the recorder
// before suspecting edge-etcd. Skipped with a message when etcd is missing, except in CI.
//
// Replay: E2E_SEED=<n> npx vitest run --project integration test/e2e/linearizability-etcd.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireEtcd, startEtcd, type EtcdProcess } from '../conformance/etcd.ts'
import { httpTransport, recordHistory, summarize } from './history.ts'
import { checkHistory, describeReport } from './linearizability.ts'

const SEED =
  process.env['E2E_SEED'] !== undefined
    ? Number(process.env['E2E_SEED'])
    : Math.floor(Math.random() * 2 ** 31)

const haveEtcd = requireEtcd()

describe.skipIf(!haveEtcd)('linearizability baseline: real etcd 3.4', () => {
  let etcd: EtcdProcess
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(async () => {
    await etcd?.stop()
  })

  it('8 clients doing get/put/cas on 4 keys for 5 s: the history is linearizable', async () => {
    const history = await recordHistory({
      transport: httpTransport(etcd.url),
      seed: SEED,
      clients: 8,
      keys: 4,
      keyPrefix: `/lin/etcd/${SEED}/`,
      opsMax: 20_000,
      durationMs: 5_000,
      requestTimeoutMs: 5_000,
    })
    const report = checkHistory(history, { timeMs: 15_000 })
    const text =
      `${summarize(history)}\n${describeReport(report)}\n` +
      `reproduce: E2E_SEED=${SEED} npx vitest run --project integration ` +
      `test/e2e/linearizability-etcd.test.ts`
    console.log(text)
    expect(report.verdict, text).toBe('ok')
    expect(history.ops.filter((op) => op.outcome === 'ok').length, text).toBeGreaterThan(200)
  })

  it('clients that give up after 5 ms (most ops UNKNOWN): still linearizable, and decided', async () => {
    // etcd applies what the client abandoned; the checker must neither flag that nor give up.
    const history = await recordHistory({
      transport: httpTransport(etcd.url),
      seed: SEED,
      clients: 8,
      keys: 4,
      keyPrefix: `/lin/etcd-timeouts/${SEED}/`,
      opsMax: 20_000,
      durationMs: 3_000,
      requestTimeoutMs: 5,
    })
    const report = checkHistory(history, { timeMs: 15_000 })
    const text = `${summarize(history)}\n${describeReport(report)}\nE2E_SEED=${SEED}`
    console.log(text)
    expect(report.verdict, text).toBe('ok')
    const unknown = history.ops.filter((op) => op.outcome === 'unknown').length
    expect(unknown, text).toBeGreaterThan(history.ops.length / 4)
  })
})
