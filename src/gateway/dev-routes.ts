// Test-only routes (DESIGN.md §5), answered only when the DEV_FAULTS var is 'true' (no
// production config sets it): per-member status, HashKV and reads, and fault injection.
import type { Context, Hono } from 'hono'
import type { DevFault } from '../member/member.ts'
import { allStatuses, clusterOf, DEV_MEMBER_HEADER, type AppEnv } from './cluster.ts'
import { errorResponse, jsonResponse } from './http.ts'
import type { MemberHandle } from './members.ts'
import { RetryableError, unavailable } from './routing.ts'

/** The member named in the path, when fault injection is on. */
function devMember(c: Context<AppEnv>): MemberHandle | undefined {
  if (c.env.DEV_FAULTS !== 'true') return undefined
  return clusterOf(c).members.find((m) => m.spec.name === c.req.param('name'))
}

/** Adds the /_dev routes. */
export function registerDevRoutes(app: Hono<AppEnv>): void {
  // Test-only fault injection and per-member status, present only when DEV_FAULTS is set.
  app.get('/_dev/members', async (c) => {
    if (c.env.DEV_FAULTS !== 'true') return c.notFound()
    return c.json(await allStatuses(clusterOf(c).members))
  })
  // What any member object says about itself (fresh, started, retired), by object name.
  app.get('/_dev/objects/describe', async (c) => {
    if (c.env.DEV_FAULTS !== 'true') return c.notFound()
    const stub = c.env.MEMBER.get(c.env.MEMBER.idFromName(c.req.query('name') ?? ''))
    return c.json(await stub.describe())
  })
  app.get('/_dev/members/:name/hashkv', async (c) => {
    const member = devMember(c)
    if (!member) return c.notFound()
    const revision = Number(c.req.query('revision') ?? 0)
    return c.json(await member.stub.devHashKv(member.spec.name, revision))
  })
  // A read served by one named member, without failover (does an isolated member serve it?).
  app.post('/_dev/members/:name/kv/range', async (c) => {
    const member = devMember(c)
    if (!member) return c.notFound()
    const body = await c.req.text()
    const serializable =
      (JSON.parse(body || '{}') as { serializable?: boolean }).serializable === true
    const r = await member.stub.readBatch(
      member.spec.name,
      [{ route: 'range', body }],
      serializable,
    )
    const reply = 'results' in r ? r.results[0]! : r
    if ('status' in reply) return jsonResponse(reply.body, reply.status)
    return errorResponse(unavailable(new RetryableError(reply.etcdError)))
  })
  // Any etcd route, entered at one named member (writes there are forwarded to the leader by the
  // member, reads there do their own ReadIndex): the same handlers, pinned by DEV_MEMBER_HEADER.
  app.all('/_dev/members/:name/:api{v3|v3beta|v3alpha}/*', async (c) => {
    if (c.env.DEV_FAULTS !== 'true') return c.notFound()
    const name = c.req.param('name')
    const url = new URL(c.req.url)
    url.pathname = url.pathname.slice(`/_dev/members/${name}`.length)
    const headers = new Headers(c.req.raw.headers)
    headers.set(DEV_MEMBER_HEADER, name)
    const request = new Request(url, { method: c.req.method, headers, body: c.req.raw.body })
    return app.fetch(request, c.env, c.executionCtx)
  })
  const faults = 'isolate|heal|crash|dropchunk|drop|delay|skew|unsafe-local-reads'
  app.post(`/_dev/members/:name/:fault{${faults}}`, async (c) => {
    const member = devMember(c)
    if (!member) return c.notFound()
    const fault = c.req.param('fault') as DevFault
    const value = Number(c.req.query('value') ?? 0)
    await member.stub.devFault(member.spec.name, fault, value).catch((e: unknown) => {
      // A crash resets the object under the call: that is the point.
      if (fault !== 'crash') throw e
    })
    return c.json({ ok: true })
  })
}
