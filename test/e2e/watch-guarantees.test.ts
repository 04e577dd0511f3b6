// Watch guarantees under faults: writers change a handful of keys (puts, deletes, multi-key
// txns) while members are crashed and isolated and the watching client is cut off again and
// again, reconnecting each time at another entry point (the front door, or m1, m2, m3 directly
// through the DEV_FAULTS route) with start_revision = last seen + 1. What it received, over all its connections, must be exactly
// the log's events for the range: ordered, unique, atomic, no gaps, prev_kv and creation right,
// and every acknowledged write present. E2E_SEED=<n> replays the same fault schedule (the
// writers' choices share a seeded generator but depend on timing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Xoshiro128 } from '../../src/raft/index.ts'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { httpWatch } from '../support/watch-client.ts'
import { prefixRangeEnd, resumingWatcher } from './resuming-watcher.ts'
import { checkWatchGuarantees } from './watch-guarantees.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const SEED = Number(process.env.E2E_SEED ?? Date.now() % 100_000)
const RUN_MS = Number(process.env.E2E_WATCH_MS ?? 8_000)
const KEYS = ['wg/a', 'wg/b', 'wg/c', 'wg/d', 'wg/e']
const MEMBERS = ['m1', 'm2', 'm3']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('watch guarantees under faults', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it(`hold for a resuming client while members crash and partition (E2E_SEED=${SEED})`, async () => {
    const rng = new Xoshiro128(SEED)
    const start = await cluster.post('/v3/kv/put', { key: b64('marker'), value: b64('0') })
    const startRev = Number((start.json as { header: { revision: string } }).header.revision) + 1
    // Each reconnection enters somewhere else: the front door, then m1, m2, m3, round and round.
    const entries = ['', ...MEMBERS]
    let connection = 0
    const watcher = resumingWatcher({
      url: cluster.url,
      key: b64('wg/'),
      rangeEnd: prefixRangeEnd('wg/'),
      startRevision: startRev,
      entry: () => entries[connection++ % entries.length]!,
    })

    const acknowledged: { key: string; value: string; rev: number }[] = []
    const deadline = Date.now() + RUN_MS
    const writers = [0, 1, 2].map(async (w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const key = KEYS[rng.int(KEYS.length)]!
        const value = `w${w}-${i}`
        const pick = rng.int(10)
        try {
          if (pick < 6) {
            const r = await cluster.post('/v3/kv/put', { key: b64(key), value: b64(value) })
            if (r.status === 200) {
              const rev = Number((r.json as { header: { revision: string } }).header.revision)
              acknowledged.push({ key, value: b64(value), rev })
            }
          } else if (pick < 8) {
            await cluster.post('/v3/kv/deleterange', { key: b64(key) })
          } else {
            const other = KEYS[rng.int(KEYS.length)]!
            if (other === key) continue
            await cluster.post('/v3/kv/txn', {
              success: [
                { request_put: { key: b64(key), value: b64(value) } },
                { request_put: { key: b64(other), value: b64(value) } },
              ],
            })
          }
        } catch {
          // outcome unknown; the log is the truth
        }
      }
    })
    // The fault schedule has its own generator, so a seed replays it whatever the writers do;
    // the first fault always cuts the watcher, so every run resumes at least once.
    const faultRng = new Xoshiro128(SEED + 1)
    const faults = (async () => {
      for (let n = 0; Date.now() < deadline - 500; n++) {
        await sleep(400 + faultRng.int(600))
        const member = MEMBERS[faultRng.int(MEMBERS.length)]!
        const kind = n === 0 ? 2 : faultRng.int(3)
        if (kind === 0) await cluster.post(`/_dev/members/${member}/crash`)
        else if (kind === 1) {
          await cluster.post(`/_dev/members/${member}/isolate`)
          await sleep(300 + faultRng.int(700))
          await cluster.post(`/_dev/members/${member}/heal`)
        } else watcher.cut()
      }
      for (const m of MEMBERS) await cluster.post(`/_dev/members/${m}/heal`)
    })()
    await Promise.all([...writers, faults])

    await cluster.waitHealthy()
    const end = await cluster.post('/v3/kv/put', { key: b64('marker'), value: b64('end') })
    const endRev = Number((end.json as { header: { revision: string } }).header.revision)
    for (let i = 0; i < 200 && watcher.next() < endRev; i++) await sleep(50)
    await watcher.stop()

    // The truth: one uninterrupted replay of the range from the first revision.
    const replay = await httpWatch(cluster.url, [
      {
        create_request: {
          key: b64('wg/'),
          range_end: b64('wg0'),
          prev_kv: true,
          start_revision: String(startRev),
        },
      },
    ])
    const lastWrite = acknowledged.reduce((m, a) => Math.max(m, a.rev), 0)
    await replay.until(
      (r) => r.flatMap((x) => x.events ?? []).some((e) => Number(e.kv.mod_revision) >= lastWrite),
      20_000,
    )
    await sleep(300)
    replay.close()
    const truth = replay.results
      .flatMap((r) => r.events ?? [])
      .filter((e) => Number(e.kv.mod_revision) < endRev)
    const received = watcher.received.filter(
      (r) => !r.result.events || Number(r.result.events[0]!.kv.mod_revision) < endRev,
    )

    const violations = checkWatchGuarantees(received, truth)
    const truthIds = new Set(truth.map((e) => `${e.kv.mod_revision}/${e.kv.key}/${e.kv.value}`))
    for (const a of acknowledged) {
      if (!truthIds.has(`${a.rev}/${b64(a.key)}/${a.value}`))
        violations.push(`acknowledged put ${a.rev} ${a.key} missing`)
    }
    console.log(
      `watch guarantees (E2E_SEED=${SEED}): ${truth.length} events in the log, ` +
        `${acknowledged.length} acknowledged puts, ${watcher.connections()} connections`,
    )
    expect(acknowledged.length).toBeGreaterThan(20)
    expect(watcher.connections()).toBeGreaterThan(1)
    expect(new Set(watcher.entries()).size).toBeGreaterThan(1)
    expect(violations, `replay with E2E_SEED=${SEED}`).toEqual([])
  }, 90_000)
})
