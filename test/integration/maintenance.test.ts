// Maintenance and observability against the local cluster (real Durable Objects and SQLite), as an
// etcd client and a Prometheus server see them: the space quota and its NOSPACE alarm, recovery by
// compact + defragment + disarm, HashKV agreement, move-leader, health probes, /metrics, and
// auto-compaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import { parsePrometheusText, sampleSum, sampleValue } from '../support/prometheus.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const NO_SPACE = {
  error: 'etcdserver: mvcc: database space exceeded',
  message: 'etcdserver: mvcc: database space exceeded',
  code: 8,
}
/** Small enough that a few dozen 16 KiB values fill it (the empty member database is ~60 KB). */
const QUOTA_BYTES = 500_000
const MEMBERS = ['m1', 'm2', 'm3']

interface Status {
  header: { revision: string; member_id: string }
  dbSize: string
  leader?: string
  errors?: string[]
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('maintenance on the local cluster', () => {
  let cluster: TestCluster
  const status = async (member?: string) =>
    (await cluster.post(`/v3/maintenance/status${member ? `?member=${member}` : ''}`))
      .json as Status
  const metrics = async () => {
    const r = await cluster.get('/metrics')
    expect(r.status).toBe(200)
    return parsePrometheusText(r.text)
  }

  beforeAll(async () => {
    cluster = await startTestCluster({
      // The quota counts the member's whole database, raft log included: a short log keeps the
      // space a compaction frees from being held by log entries that still carry the values.
      vars: { QUOTA_BACKEND_BYTES: String(QUOTA_BYTES), SNAPSHOT_COUNT: '5', DEV_FAULTS: 'true' },
    })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('status answers every field etcd 3.4 gives', async () => {
    const s = (await cluster.post('/v3/maintenance/status', {})).json as Record<string, unknown>
    expect(Object.keys(s)).toEqual([
      'header',
      'version',
      'dbSize',
      'leader',
      'raftIndex',
      'raftTerm',
      'raftAppliedIndex',
      'dbSizeInUse',
    ])
    expect(s['version']).toBe('3.4.23')
    expect(Number(s['raftAppliedIndex'])).toBeLessThanOrEqual(Number(s['raftIndex']))
  })

  it("past the quota: NOSPACE is raised on every member, writes get etcd's error, reads and deletes pass; compact + defragment + disarm restore writes", async () => {
    const value = b64('x'.repeat(16 * 1024))
    let refused: { status: number; json: unknown } | undefined
    let written = 0
    for (let i = 0; i < 200 && !refused; i++) {
      const r = await cluster.post('/v3/kv/put', { key: b64(`fill/${i}`), value })
      if (r.status === 200) written++
      else refused = r
    }
    expect(written).toBeGreaterThan(0)
    expect(refused).toEqual({ status: 429, json: NO_SPACE, text: JSON.stringify(NO_SPACE) })

    // The alarm is replicated: every member reports it.
    const alarms = (await cluster.post('/v3/maintenance/alarm', { action: 'GET' })).json as {
      alarms: { memberID: string; alarm: string }[]
    }
    expect(alarms.alarms).toHaveLength(1)
    expect(alarms.alarms[0]!.alarm).toBe('NOSPACE')
    const raisedBy = alarms.alarms[0]!.memberID
    for (const m of MEMBERS) {
      const s = await until(`${m} to apply the alarm`, async () => {
        const st = await status(m)
        return st.errors?.length ? st : undefined
      })
      expect(s.errors).toEqual([`memberID:${raisedBy} alarm:NOSPACE `])
    }

    // Only what etcd lets through passes.
    const small = { key: b64('small'), value: b64('v') }
    expect((await cluster.post('/v3/kv/put', small)).json).toEqual(NO_SPACE)
    const txnPut = { success: [{ requestPut: small }] }
    expect((await cluster.post('/v3/kv/txn', txnPut)).json).toEqual(NO_SPACE)
    // etcd's capped applier refuses lease grants too.
    expect((await cluster.post('/v3/lease/grant', { TTL: '60' })).json).toEqual(NO_SPACE)
    const read = await cluster.post('/v3/kv/range', { key: b64('fill/0'), keys_only: true })
    expect(read.status).toBe(200)
    expect((read.json as { count: string }).count).toBe('1')
    const readTxn = await cluster.post('/v3/kv/txn', {
      success: [{ requestRange: { key: b64('fill/0') } }],
    })
    expect(readTxn.status).toBe(200)
    const del = await cluster.post('/v3/kv/deleterange', {
      key: b64('fill/'),
      range_end: b64('fill0'),
    })
    expect(del.status).toBe(200)
    expect((del.json as { deleted: string }).deleted).toBe(String(written))
    expect((await cluster.get('/health')).status).toBe(503)
    expect((await cluster.get('/health?exclude=NOSPACE')).status).toBe(200)

    // Compact + defragment free the space, but writes stay refused until the alarm is disarmed.
    const full = await Promise.all(MEMBERS.map(async (m) => Number((await status(m)).dbSize)))
    const rev = (del.json as { header: { revision: string } }).header.revision
    expect((await cluster.post('/v3/kv/compaction', { revision: rev })).status).toBe(200)
    expect(await cluster.post('/v3/maintenance/defragment', {})).toMatchObject({
      status: 200,
      text: '{}',
    })
    const sizes = await Promise.all(MEMBERS.map(async (m) => Number((await status(m)).dbSize)))
    sizes.forEach((size, i) => expect(size).toBeLessThan(Math.min(full[i]!, QUOTA_BYTES) - 100_000))
    expect((await cluster.post('/v3/kv/put', small)).json).toEqual(NO_SPACE)

    const disarm = await cluster.post('/v3/maintenance/alarm', {
      action: 'DEACTIVATE',
      memberID: raisedBy,
      alarm: 'NOSPACE',
    })
    expect(disarm.json).toEqual({ alarms: [{ memberID: raisedBy, alarm: 'NOSPACE' }] })
    expect((await cluster.post('/v3/maintenance/alarm', { action: 'GET' })).json).toEqual({})
    expect((await cluster.post('/v3/kv/put', small)).status).toBe(200)
    expect((await cluster.post('/v3/lease/grant', { TTL: '60' })).status).toBe(200)
    expect((await cluster.get('/health')).status).toBe(200)
  })

  it('CORRUPT refuses every write (reads pass) until disarmed', async () => {
    const corrupt = { memberID: '7', alarm: 'CORRUPT' }
    await cluster.post('/v3/maintenance/alarm', { action: 'ACTIVATE', ...corrupt })
    const put = await cluster.post('/v3/kv/put', { key: b64('c'), value: b64('1') })
    expect(put).toMatchObject({
      status: 500,
      json: { code: 15, message: 'etcdserver: corrupt cluster' },
    })
    expect(await cluster.post('/v3/lease/grant', { TTL: '60' })).toMatchObject({
      status: 500,
      json: { code: 15, message: 'etcdserver: corrupt cluster' },
    })
    expect((await cluster.post('/v3/kv/range', { key: b64('small') })).status).toBe(200)
    const readyz = await cluster.get('/readyz')
    expect(readyz.status).toBe(503)
    expect(readyz.text).toContain('[-]data_corruption failed: alarm activated: CORRUPT\n')
    await cluster.post('/v3/maintenance/alarm', { action: 'DEACTIVATE', ...corrupt })
    expect((await cluster.post('/v3/kv/put', { key: b64('c'), value: b64('1') })).status).toBe(200)
  })

  it('a raised alarm reaches a member that catches up by snapshot, and survives a crash', async () => {
    // An alarm type etcd has no applier for: it is stored and listed, and blocks nothing.
    const marker = { memberID: '42', alarm: 'NONE' }
    const has42 = (st: Status) => (st.errors ?? []).includes('memberID:42 ')
    const leader = await until('a leader', async () => {
      const all = (await cluster.get('/_dev/members')).json as { name: string; isLeader: boolean }[]
      return all.find((m) => m.isLeader)?.name
    })
    const [behind, crashed] = MEMBERS.filter((m) => m !== leader) as [string, string]
    await cluster.post(`/_dev/members/${behind}/isolate`)
    try {
      const raised = await cluster.post('/v3/maintenance/alarm', { action: 'ACTIVATE', ...marker })
      expect(raised.json).toEqual({ alarms: [{ memberID: '42' }] })
      // Enough entries that the leader compacts its log past the isolated member (SNAPSHOT_COUNT 5).
      for (let i = 0; i < 30; i++) {
        const put = await cluster.post('/v3/kv/put', { key: b64(`snap/${i}`), value: b64('v') })
        expect(put.status).toBe(200)
      }
      expect(has42(await status(behind))).toBe(false)
    } finally {
      await cluster.post(`/_dev/members/${behind}/heal`)
    }
    const target = Number((await status(leader)).header.revision)
    await until(`${behind} to install the snapshot`, async () => {
      const st = await status(behind)
      return has42(st) && Number(st.header.revision) >= target ? true : undefined
    })
    await cluster.post(`/_dev/members/${crashed}/crash`)
    await until(`${crashed} to restart with the alarm`, async () => {
      const r = await cluster.post(`/v3/maintenance/status?member=${crashed}`)
      return r.status === 200 && has42(r.json as Status) ? true : undefined
    })
    await cluster.post('/v3/maintenance/alarm', { action: 'DEACTIVATE', ...marker })
    for (const m of MEMBERS) {
      await until(`${m} to clear the alarm`, async () =>
        has42(await status(m)) ? undefined : true,
      )
    }
  })

  it('hashkv and hash are equal on every member at the same revision', async () => {
    for (let i = 0; i < 20; i++)
      await cluster.post('/v3/kv/put', { key: b64(`h/${i % 7}`), value: b64(`${i}`) })
    const rev = (await status()).header.revision
    const hashes = await Promise.all(
      MEMBERS.map((m) =>
        until(`${m} at revision ${rev}`, async () => {
          const r = await cluster.post(`/v3/maintenance/hashkv?member=${m}`, { revision: rev })
          return r.status === 200
            ? (r.json as { hash: number; compact_revision: string })
            : undefined
        }),
      ),
    )
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1)
    expect(hashes[0]!.hash).toBeGreaterThan(0)
    const whole = await Promise.all(
      MEMBERS.map(
        async (m) =>
          (await cluster.post(`/v3/maintenance/hash?member=${m}`)).json as {
            hash: number
            header: { revision: string }
          },
      ),
    )
    if (new Set(whole.map((h) => h.header.revision)).size === 1) {
      expect(new Set(whole.map((h) => h.hash)).size).toBe(1)
    }
    // A revision above the current one is etcd's future-revision error.
    const future = await cluster.post('/v3/maintenance/hashkv', {
      revision: String(Number(rev) + 100),
    })
    expect(future).toMatchObject({ status: 400, json: { code: 11 } })
  })

  it('transfer-leadership moves the leader to the target, and refuses a non-member', async () => {
    const before = await until('a leader', async () => (await status()).leader)
    const list = (await cluster.post('/v3/cluster/member/list')).json as {
      members: { ID: string }[]
    }
    const target = list.members.map((m) => m.ID).find((id) => id !== before)!
    const moved = await cluster.post('/v3/maintenance/transfer-leadership', { targetID: target })
    expect(moved).toMatchObject({ status: 200, text: '{}' })
    for (const m of MEMBERS) {
      await until(`${m} to follow ${target}`, async () =>
        (await status(m)).leader === target ? true : undefined,
      )
    }
    const bad = await cluster.post('/v3/maintenance/transfer-leadership', { targetID: '12345' })
    expect(bad).toMatchObject({
      status: 412,
      json: { code: 9, message: 'etcdserver: bad leader transferee' },
    })
    expect(
      (await cluster.post('/v3/kv/put', { key: b64('after-move'), value: b64('1') })).status,
    ).toBe(200)
  })

  it('/livez and /readyz answer as etcd 3.5 does; /health as etcd 3.4', async () => {
    expect(await cluster.get('/livez')).toMatchObject({ status: 200, text: 'ok\n' })
    expect((await cluster.get('/readyz?verbose')).text).toBe(
      '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n',
    )
    expect((await cluster.get('/readyz?exclude=linearizable_read&verbose')).text).not.toContain(
      'linearizable',
    )
    expect(await cluster.get('/readyz/linearizable_read')).toMatchObject({
      status: 200,
      text: 'ok\n',
    })
    expect(await cluster.get('/health')).toMatchObject({ status: 200, text: '{"health":"true"}' })
    expect((await cluster.post('/livez')).status).toBe(405)
  })

  it('/metrics parses as Prometheus text, per member, and the counters move', async () => {
    const before = await metrics()
    expect(sampleSum(before, 'etcd_server_has_leader', {})).toBe(3)
    expect(sampleSum(before, 'etcd_server_is_leader', {})).toBe(1)
    for (const m of MEMBERS) {
      expect(
        sampleValue(before, 'etcd_mvcc_db_total_size_in_bytes', { member: m }),
      ).toBeGreaterThan(0)
      // The move-leader above was a leader change every member saw.
      expect(
        sampleValue(before, 'etcd_server_leader_changes_seen_total', { member: m }),
      ).toBeGreaterThanOrEqual(2)
    }
    const puts = (f: typeof before) =>
      sampleSum(f, 'grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'OK' })
    const keys = (f: typeof before, m: string) =>
      sampleValue(f, 'etcd_debugging_mvcc_keys_total', { member: m })!
    const sent = (f: typeof before) => sampleSum(f, 'etcd_network_peer_sent_bytes_total', {})
    const leader = before.get('etcd_server_is_leader')!.samples.find((s) => s.value === 1)!.labels[
      'member'
    ]!
    const committed = (f: typeof before) =>
      sampleValue(f, 'etcd_server_proposals_committed_total', { member: leader })!

    for (let i = 0; i < 5; i++)
      await cluster.post('/v3/kv/put', { key: b64(`metrics/${i}`), value: b64('v') })
    const after = await until('every member to apply the puts', async () => {
      const f = await metrics()
      return MEMBERS.every((m) => keys(f, m) === keys(before, m) + 5) ? f : undefined
    })
    expect(puts(after) - puts(before)).toBeGreaterThanOrEqual(5)
    expect(committed(after) - committed(before)).toBeGreaterThanOrEqual(5)
    expect(sent(after)).toBeGreaterThan(sent(before))
    expect(
      sampleSum(after, 'grpc_server_handling_seconds_count', { grpc_method: 'Put' }),
    ).toBeGreaterThanOrEqual(puts(after))
  })
})

describe('auto-compaction on the local cluster', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({
      vars: { AUTO_COMPACTION_MODE: 'periodic', AUTO_COMPACTION_RETENTION: '1s' },
    })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('the leader compacts every period at the revision of one period ago, on every member', async () => {
    const first = await cluster.post('/v3/kv/put', { key: b64('a'), value: b64('1') })
    const firstRev = Number((first.json as { header: { revision: string } }).header.revision)
    // Keep writing so later samples move on; wait until a compaction passes the first put.
    const compacted = await until('a compaction past the first put', async () => {
      await cluster.post('/v3/kv/put', { key: b64('a'), value: b64('2') })
      const r = await cluster.post('/v3/maintenance/hashkv', {})
      const rev = Number((r.json as { compact_revision: string }).compact_revision)
      return rev > firstRev ? rev : undefined
    })
    expect(compacted).toBeGreaterThan(firstRev)
    const old = await cluster.post('/v3/kv/range', { key: b64('a'), revision: String(firstRev) })
    expect(old).toMatchObject({
      status: 400,
      json: { code: 11, message: 'etcdserver: mvcc: required revision has been compacted' },
    })
  })
})
