// The front door's maintenance and observability routes: etcd's /v3/maintenance/* gateway routes,
// /health (etcd 3.4), /livez and /readyz (etcd 3.5: 3.4 has neither), and /metrics.
//
// etcd answers these per member: a client picks the member by its endpoint. The front door is the
// cluster's one endpoint, so `?member=<name>` picks a member for status, hash, hashkv,
// defragment, /health, /livez, /readyz; without it any member answers (failover as for reads),
// and defragment runs on every member (etcdctl defrag --cluster). Alarms are replicated through
// raft and transfer-leadership runs on the leader, so neither takes a member.
import type { Context, Hono } from 'hono'
import { EtcdErrors } from '../api/errors.ts'
import { decodeAlarmRequest, type AlarmMember } from '../api/maintenance-service.ts'
import type { KvReply } from '../member/kv-machine.ts'
import type { MaintenanceOp, MemberHealth } from '../member/maintenance.ts'
import type { BatchReply, MemberFailure } from '../member/member.ts'
import type { MetricFamily } from '../member/metrics.ts'
import { bodyCap, clusterOf, REQUEST_DEADLINE_MS, type AppEnv, type Cluster } from './cluster.ts'
import { CORS_HEADERS, errorResponse, jsonResponse, readBody, textResponse } from './http.ts'
import type { MemberHandle } from './members.ts'
import { PROMETHEUS_TEXT_TYPE, renderMetrics } from './metrics-text.ts'
import { callWithFailover, RetryableError, unavailable } from './routing.ts'

/** How long health checks and the metrics scrape wait for a member (etcd: 1 s for QGET). */
const CHECK_TIMEOUT_MS = 1_000
const SCRAPE_TIMEOUT_MS = 2_000

/** A member's answer, or a retry when it failed as a value (no leader, stopped, …). */
function replyOf(
  r: KvReply | MemberFailure,
  learnLeader?: (name: string | undefined) => void,
): KvReply {
  if ('status' in r) return r
  learnLeader?.(r.leaderName)
  throw new RetryableError(r.etcdError)
}

function firstResult(r: BatchReply | MemberFailure): KvReply | MemberFailure {
  return 'results' in r ? r.results[0]! : r
}

/** The members a request names with `?member=` (all when absent); undefined if unknown. */
function chosen(c: Context<AppEnv>, cluster: Cluster): MemberHandle[] | undefined {
  const name = c.req.query('member')
  if (name === undefined) return cluster.members
  const m = cluster.members.find((h) => h.spec.name === name)
  return m ? [m] : undefined
}

async function maintenanceOn(
  c: Context<AppEnv>,
  op: MaintenanceOp,
  prefer: 'leader' | 'any',
): Promise<Response> {
  const cluster = clusterOf(c)
  try {
    const body = await readBody(c.req.raw, bodyCap(cluster.config))
    const members = op === 'moveLeader' ? cluster.members : chosen(c, cluster)
    if (!members) return textResponse('404 page not found\n', 404)
    const reply = await callWithFailover(
      cluster.config.clusterName,
      members,
      prefer,
      REQUEST_DEADLINE_MS,
      async (m, learnLeader) =>
        replyOf(await m.stub.maintenanceCall(m.spec.name, op, body), learnLeader),
    ).catch((e: unknown) => {
      throw unavailable(e)
    })
    return jsonResponse(reply.body, reply.status)
  } catch (e) {
    return errorResponse(e)
  }
}

/** Defragment: the named member, or every member in turn (the first failure is the answer). */
async function defragment(c: Context<AppEnv>): Promise<Response> {
  const cluster = clusterOf(c)
  try {
    const body = await readBody(c.req.raw, bodyCap(cluster.config))
    const members = chosen(c, cluster)
    if (!members) return textResponse('404 page not found\n', 404)
    let last: KvReply = { status: 200, body: '{}' }
    for (const m of members) {
      last = replyOf(await m.stub.maintenanceCall(m.spec.name, 'defragment', body))
      if (last.status !== 200) break
    }
    return jsonResponse(last.body, last.status)
  } catch (e) {
    return errorResponse(e instanceof RetryableError ? unavailable(e) : e)
  }
}

/** Alarm: decoded here (bad input changes nothing), proposed through raft on the leader. */
async function alarm(c: Context<AppEnv>): Promise<Response> {
  const { config, members } = clusterOf(c)
  try {
    const body = await readBody(c.req.raw, bodyCap(config))
    decodeAlarmRequest(body)
    const requestId = crypto.randomUUID()
    const reply = await callWithFailover(
      config.clusterName,
      members,
      'leader',
      REQUEST_DEADLINE_MS,
      async (m, learnLeader) => {
        const r = await m.stub.writeBatch(m.spec.name, [{ route: 'alarm', body, requestId }])
        learnLeader(r.leaderName)
        return replyOf(firstResult(r), learnLeader)
      },
    ).catch((e: unknown) => {
      throw unavailable(e)
    })
    return jsonResponse(reply.body, reply.status)
  } catch (e) {
    return errorResponse(e)
  }
}

// ---- health ---------------------------------------------------------------------------------

/** Settles with `fallback` when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([p, new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms))])
}

/**
 * The health facts of one member: the named one, else the leader the front door knows (the
 * member its clients' writes and linearizable reads go to), else whichever answers first.
 */
async function memberHealth(
  c: Context<AppEnv>,
): Promise<{ member: MemberHandle; health: MemberHealth } | undefined> {
  const cluster = clusterOf(c)
  const members = chosen(c, cluster)
  if (!members) return undefined
  return within(
    callWithFailover(cluster.config.clusterName, members, 'leader', CHECK_TIMEOUT_MS, async (m) => {
      const r = replyOf(await m.stub.maintenanceCall(m.spec.name, 'health', ''))
      return { member: m, health: JSON.parse(r.body) as MemberHealth }
    }).catch(() => undefined),
    CHECK_TIMEOUT_MS * 2,
    undefined,
  )
}

/** A range on `member` (etcd's health read: keys only, limit 1); the error text, or null if ok. */
async function readCheck(member: MemberHandle, serializable: boolean): Promise<string | null> {
  const read = member.stub
    .readBatch(
      member.spec.name,
      [{ route: 'range', body: '{"key":"AA==","keys_only":true,"limit":"1"}' }],
      serializable,
    )
    .then((r) => {
      const reply = firstResult(r)
      if ('status' in reply) {
        return reply.status === 200 ? null : (JSON.parse(reply.body) as { message: string }).message
      }
      return EtcdErrors[reply.etcdError].message
    })
    .catch((e: unknown) => String(e instanceof Error ? e.message : e))
  return within(read, CHECK_TIMEOUT_MS, 'context deadline exceeded')
}

/** The query's repeated `exclude` values. */
function excluded(c: Context<AppEnv>): Set<string> {
  return new Set(c.req.queries('exclude') ?? [])
}

/** etcd 3.4 /health: false on any alarm not excluded, without a leader, or if a quorum read fails. */
async function health(c: Context<AppEnv>): Promise<Response> {
  if (c.req.method !== 'GET') return methodNotAllowed(c.req.method)
  const found = await memberHealth(c)
  const skip = excluded(c)
  let ok = found !== undefined
  if (found) {
    if (found.health.alarms.some((a: AlarmMember) => !skip.has(a.alarm))) ok = false
    else if (found.health.leader === '') ok = false
    else if ((await readCheck(found.member, false)) !== null) ok = false
  }
  const body = JSON.stringify({ health: String(ok) })
  // Go's http.Error adds a newline and nosniff to the failure.
  return ok
    ? textResponse(body, 200)
    : withHeaders(textResponse(body + '\n', 503), { 'X-Content-Type-Options': 'nosniff' })
}

function withHeaders(r: Response, headers: Record<string, string>): Response {
  for (const [k, v] of Object.entries(headers)) r.headers.set(k, v)
  return r
}

/** Not GET: etcd's CORS handler answers every preflight (OPTIONS) with an empty 200 first. */
function methodNotAllowed(method: string): Response {
  if (method === 'OPTIONS') return new Response(null, { status: 200, headers: CORS_HEADERS })
  return withHeaders(textResponse('Method Not Allowed\n', 405), {
    Allow: 'GET',
    'X-Content-Type-Options': 'nosniff',
  })
}

type Check = (m: MemberHandle, h: MemberHealth) => Promise<string | null>

/** etcd 3.5's checks, in a fixed order (etcd iterates a Go map). */
const LIVEZ_CHECKS: [string, Check][] = [['serializable_read', (m) => readCheck(m, true)]]
const READYZ_CHECKS: [string, Check][] = [
  [
    'data_corruption',
    async (_, h) =>
      h.alarms.some((a) => a.alarm === 'CORRUPT') ? 'alarm activated: CORRUPT' : null,
  ],
  ['serializable_read', (m) => readCheck(m, true)],
  ['linearizable_read', (m) => readCheck(m, false)],
  ['non_learner', async (_, h) => (h.isLearner ? 'not supported for learner' : null)],
]

/** etcd 3.5 /livez and /readyz (and /<kind>/<check>): "ok", or the failed checks with 503. */
async function probe(c: Context<AppEnv>, checks: [string, Check][]): Promise<Response> {
  if (c.req.method !== 'GET') return methodNotAllowed(c.req.method)
  const skip = excluded(c)
  const found = await memberHealth(c)
  let failed = false
  let reason = ''
  for (const [name, check] of checks.filter(([n]) => !skip.has(n))) {
    const err = found ? await check(found.member, found.health) : 'etcdserver: request timed out'
    failed ||= err !== null
    reason += err === null ? `[+]${name} ok\n` : `[-]${name} failed: ${err}\n`
  }
  if (failed) {
    return withHeaders(textResponse(reason + '\n', 503), { 'X-Content-Type-Options': 'nosniff' })
  }
  const verbose = c.req.query('verbose') !== undefined
  return withHeaders(textResponse((verbose ? reason : '') + 'ok\n', 200), {
    'X-Content-Type-Options': 'nosniff',
  })
}

/** /metrics: every member's families (counters live in member memory), with a member label. */
async function metrics(c: Context<AppEnv>): Promise<Response> {
  const cluster = clusterOf(c)
  const members = chosen(c, cluster)
  if (!members) return textResponse('404 page not found\n', 404)
  const scraped = await Promise.all(
    members.map((m) =>
      within(
        m.stub.metrics(m.spec.name).then(
          (families: MetricFamily[]) => ({ member: m.spec.name, families }),
          () => undefined,
        ),
        SCRAPE_TIMEOUT_MS,
        undefined,
      ),
    ),
  )
  const answered = scraped.filter((s) => s !== undefined)
  return new Response(renderMetrics(answered), {
    headers: { ...CORS_HEADERS, 'Content-Type': PROMETHEUS_TEXT_TYPE },
  })
}

/** Adds the maintenance routes under one API prefix (/v3, /v3beta, /v3alpha). */
export function registerMaintenanceRoutes(app: Hono<AppEnv>, prefix: string): void {
  app.post(`${prefix}/maintenance/status`, (c) => maintenanceOn(c, 'status', 'any'))
  app.post(`${prefix}/maintenance/alarm`, alarm)
  app.post(`${prefix}/maintenance/defragment`, defragment)
  // etcd 3.4 routes HashKV to /v3/maintenance/hash too, where Hash shadows it; 3.5 serves it
  // at /v3/maintenance/hashkv. Both are here.
  app.post(`${prefix}/maintenance/hash`, (c) => maintenanceOn(c, 'hash', 'any'))
  app.post(`${prefix}/maintenance/hashkv`, (c) => maintenanceOn(c, 'hashkv', 'any'))
  app.post(`${prefix}/maintenance/transfer-leadership`, (c) =>
    maintenanceOn(c, 'moveLeader', 'leader'),
  )
}

/** Adds /health, /livez, /readyz (with their per-check paths) and /metrics. */
export function registerObservabilityRoutes(app: Hono<AppEnv>): void {
  app.all('/health', health)
  for (const [kind, checks] of [
    ['livez', LIVEZ_CHECKS],
    ['readyz', READYZ_CHECKS],
  ] as const) {
    app.all(`/${kind}`, (c) => probe(c, checks))
    for (const check of checks) app.all(`/${kind}/${check[0]}`, (c) => probe(c, [check]))
  }
  app.get('/metrics', metrics)
}
