// etcd's Cluster service over HTTP (`/v3/cluster/member/list|add|remove|update|promote`), in
// the grpc-gateway shape: IDs as decimal strings, zero fields omitted, etcd's errors. Changes
// run on the leader (member-shell.ts); the answer's membership is adopted by this isolate at
// once, which also starts an added member's Durable Object.
import type { Context, Hono } from 'hono'
import { decodeEmptyRequest } from '../api/empty-request.ts'
import { decodeError, EtcdErrors } from '../api/errors.ts'
import type { MemberRecord } from '../member/membership.ts'
import type { MemberChangeReply, MemberRequest } from '../member/membership-service.ts'
import type { MemberStatus } from '../member/member.ts'
import { bodyCap, clusterOf, REQUEST_DEADLINE_MS, type AppEnv } from './cluster.ts'
import { errorResponse, jsonResponse, readBody } from './http.ts'
import { adoptMembers, discoveredMembers } from './membership-view.ts'
import { callWithFailover, RetryableError, unavailable } from './routing.ts'

/** etcd's Member message as the gateway writes it. `started`: name and client URLs known. */
export function memberJson(m: MemberRecord, clientUrl: string | undefined): object {
  const out: Record<string, unknown> = { ID: m.id }
  if (clientUrl !== undefined && m.name !== '') out.name = m.name
  out.peerURLs = m.peerUrls
  if (clientUrl !== undefined) out.clientURLs = [clientUrl]
  if (m.isLearner) out.isLearner = true
  return out
}

function header(s: MemberStatus): object {
  return { cluster_id: s.clusterId, member_id: s.memberId, raft_term: String(s.raftTerm) }
}

/** A uint64 field of a request (JSON number or decimal string), '0' when absent. */
function uint64Field(body: Record<string, unknown>, ...names: string[]): string {
  for (const name of names) {
    const v = body[name]
    if (v === undefined || v === null) continue
    if ((typeof v === 'string' || typeof v === 'number') && /^[0-9]+$/.test(String(v))) {
      return BigInt(String(v)).toString()
    }
    throw decodeError(`json: cannot unmarshal ${JSON.stringify(v)} into Go value of type uint64`)
  }
  return '0'
}

function stringsField(body: Record<string, unknown>, ...names: string[]): string[] {
  for (const name of names) {
    const v = body[name]
    if (v === undefined || v === null) continue
    if (Array.isArray(v) && v.every((u) => typeof u === 'string')) return v as string[]
    throw decodeError('json: cannot unmarshal into Go value of type []string')
  }
  return []
}

async function parseBody(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const text = await readBody(c.req.raw, bodyCap(clusterOf(c).config))
  if (text.trim() === '') return {}
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw decodeError('invalid character in request body')
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw decodeError('json: cannot unmarshal into Go value of type etcdserverpb request')
  }
  return body as Record<string, unknown>
}

function decodeChange(op: MemberRequest['op'], body: Record<string, unknown>): MemberRequest {
  const requestId = crypto.randomUUID()
  const id = uint64Field(body, 'ID', 'iD', 'id')
  switch (op) {
    case 'add':
      return {
        op,
        requestId,
        peerUrls: stringsField(body, 'peerURLs', 'peer_urls', 'peerUrls'),
        isLearner: body.isLearner === true || body.is_learner === true,
      }
    case 'update':
      return { op, requestId, id, peerUrls: stringsField(body, 'peerURLs', 'peer_urls') }
    case 'remove':
    case 'promote':
      return { op, requestId, id }
  }
}

async function handleList(c: Context<AppEnv>): Promise<Response> {
  try {
    // etcd 3.4's MemberListRequest has no field: decoded as an empty message.
    decodeEmptyRequest(await readBody(c.req.raw, bodyCap(clusterOf(c).config)))
    const { config } = clusterOf(c)
    const members = await discoveredMembers(c.env, config, (p) => c.executionCtx.waitUntil(p))
    const answer = await callWithFailover(
      config.clusterName,
      members,
      'any',
      REQUEST_DEADLINE_MS,
      (m) => m.stub.memberList(m.spec.name),
    ).catch((e: unknown) => {
      throw unavailable(e)
    })
    const origin = new URL(c.req.url).origin
    return jsonResponse(
      JSON.stringify({
        header: header(answer.status),
        members: answer.members.map((m) => memberJson(m, origin)),
      }),
    )
  } catch (e) {
    return errorResponse(e)
  }
}

async function handleChange(c: Context<AppEnv>, op: MemberRequest['op']): Promise<Response> {
  try {
    const request = decodeChange(op, await parseBody(c))
    const { config } = clusterOf(c)
    const members = await discoveredMembers(c.env, config, (p) => c.executionCtx.waitUntil(p))
    const { reply, status } = await callWithFailover(
      config.clusterName,
      members,
      'leader',
      REQUEST_DEADLINE_MS,
      async (m, learnLeader) => {
        const r: MemberChangeReply = await m.stub.memberChange(m.spec.name, request)
        // No leader yet, or it changed under us: the request id makes the retry safe.
        if (!r.ok && ['NoLeader', 'LeaderChanged', 'Timeout', 'Stopped'].includes(r.etcdError)) {
          learnLeader(undefined)
          throw new RetryableError(r.etcdError)
        }
        return { reply: r, status: await m.stub.status(m.spec.name) }
      },
    ).catch((e: unknown) => {
      throw unavailable(e)
    })
    if (!reply.ok) throw EtcdErrors[reply.etcdError]
    adoptMembers(c.env, config, reply.members)
    const origin = new URL(c.req.url).origin
    const body: Record<string, unknown> = { header: header(status) }
    if (reply.member) body.member = memberJson(reply.member, undefined)
    body.members = reply.members.map((m) => memberJson(m, origin))
    return jsonResponse(JSON.stringify(body))
  } catch (e) {
    return errorResponse(e)
  }
}

/** Adds the Cluster service routes under `prefix` (/v3, /v3beta, /v3alpha). */
export function registerClusterRoutes(app: Hono<AppEnv>, prefix: string): void {
  app.post(`${prefix}/cluster/member/list`, handleList)
  for (const op of ['add', 'remove', 'update', 'promote'] as const) {
    app.post(`${prefix}/cluster/member/${op}`, (c) => handleChange(c, op))
  }
}
