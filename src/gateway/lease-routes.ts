// etcd's Lease API in the front door, as etcd 3.4's gateway serves it (rpc.pb.gw.go):
// POST /v3/lease/grant, /v3/lease/revoke, /v3/lease/timetolive, /v3/lease/leases (revoke,
// timetolive and leases also under /v3/kv/lease/), and the /v3/lease/keepalive stream: a
// sequence of LeaseKeepAliveRequests in the request body, one `{"result":...}` line out per
// request; with `Upgrade: websocket`, one request per frame in and one `{"result":...}` frame out.
// Grant and revoke are raft writes; timetolive and leases are reads served by the leader (its
// lease clock is the one that decides expiry). Keepalives go to the leader, which answers them
// once replicated (src/member/lease-timer.ts).
import type { Context, Hono } from 'hono'
import { errorBody, EtcdError, GrpcCode, toEtcdError } from '../api/errors.ts'
import { decodeLeaseRequest, type LeaseRequest } from '../api/lease-service.ts'
import { splitJsonValues } from '../api/watch.ts'
import type { KvReply } from '../member/kv-machine.ts'
import type { BatchReply, MemberFailure } from '../member/member.ts'
import { bodyCap, clusterOf, REQUEST_DEADLINE_MS, type AppEnv, type Cluster } from './cluster.ts'
import { errorResponse, jsonResponse, readBody } from './http.ts'
import type { MemberHandle } from './members.ts'
import { callWithFailover, RetryableError, unavailable } from './routing.ts'

/** The lease routes of one API prefix (`/v3`, `/v3beta`, `/v3alpha`). */
export function registerLeaseRoutes(app: Hono<AppEnv>, prefix: string): void {
  for (const route of ['grant', 'revoke', 'timetolive', 'leases'] as const) {
    app.post(`${prefix}/lease/${route}`, (c) => handleLease(c, `lease/${route}`))
    // etcd 3.4 also serves these under /v3/kv/lease/ (not grant, not keepalive).
    if (route !== 'grant') {
      app.post(`${prefix}/kv/lease/${route}`, (c) => handleLease(c, `lease/${route}`))
    }
  }
  app.on(['GET', 'POST'], `${prefix}/lease/keepalive`, (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() === 'websocket') return keepAliveSocket(c)
    if (c.req.method !== 'POST') return new Response('Method Not Allowed\n', { status: 405 })
    return keepAliveStream(c)
  })
}

/** Learns the leader a member named; turns a member's failure value into a retry. */
function replyOf(r: BatchReply | MemberFailure, learnLeader: (n: string | undefined) => void) {
  learnLeader(r.leaderName)
  const reply: KvReply | MemberFailure = 'results' in r ? r.results[0]! : r
  if ('status' in reply) return reply
  throw new RetryableError(reply.etcdError)
}

type ClientRoute = Exclude<LeaseRequest['route'], 'lease/keepalive'>

async function handleLease(c: Context<AppEnv>, route: ClientRoute): Promise<Response> {
  const { config, members } = clusterOf(c)
  try {
    const body = await readBody(c.req.raw, bodyCap(config))
    decodeLeaseRequest(route, body) // bad input gets etcd's 400 before raft
    const write = route === 'lease/grant' || route === 'lease/revoke'
    const requestId = crypto.randomUUID()
    const reply = await callWithFailover(
      config.clusterName,
      members,
      'leader',
      REQUEST_DEADLINE_MS,
      async (m, learnLeader) =>
        replyOf(
          write
            ? await m.stub.writeBatch(m.spec.name, [{ route, body, requestId }])
            : await m.stub.readBatch(m.spec.name, [{ route, body }], false),
          learnLeader,
        ),
    ).catch((e: unknown) => {
      throw unavailable(e)
    })
    return jsonResponse(reply.body, reply.status)
  } catch (e) {
    return errorResponse(e)
  }
}

/** Keepalives for `ids` on the leader (with failover): one LeaseKeepAliveResponse JSON per ID. */
async function keepAlive(cluster: Cluster, ids: string[]): Promise<string[]> {
  return callWithFailover(
    cluster.config.clusterName,
    cluster.members,
    'leader',
    REQUEST_DEADLINE_MS,
    async (m: MemberHandle, learnLeader) => {
      const r = await m.stub.leaseKeepAlive(m.spec.name, ids)
      learnLeader(r.leaderName)
      if ('ok' in r) throw new RetryableError(r.etcdError)
      return r.results
    },
  ).catch((e: unknown) => {
    throw unavailable(e)
  })
}

/** A keepalive request's ID, or etcd's stream error (code 2: the gateway's stream decoder). */
function keepAliveId(text: string): string {
  try {
    return decodeLeaseRequest('lease/keepalive', text).id.toString()
  } catch (err) {
    throw new EtcdError(GrpcCode.UNKNOWN, toEtcdError(err).message)
  }
}

const encoder = new TextEncoder()

/**
 * The HTTP keepalive stream. Requests that arrived together go to the leader in one call and
 * are answered in order. The first request must decode (else etcd's 500 error body); a later
 * bad request or an unavailable leader ends the stream with an error line.
 */
async function keepAliveStream(c: Context<AppEnv>): Promise<Response> {
  const cluster = clusterOf(c)
  const reader = c.req.raw.body?.getReader()
  const decoder = new TextDecoder()
  let pending = ''
  let ended = reader === undefined

  async function nextRequests(): Promise<string[]> {
    for (;;) {
      const { values, rest } = splitJsonValues(pending)
      if (values.length > 0 || ended) {
        pending = ended ? '' : rest
        return ended && rest.trim() !== '' ? [...values, rest] : values
      }
      const { done, value } = await reader!.read()
      if (done) ended = true
      else pending += decoder.decode(value, { stream: true })
    }
  }

  let first: string[]
  try {
    first = (await nextRequests()).map(keepAliveId)
  } catch (e) {
    return jsonResponse(errorBody(toEtcdError(e)), 500)
  }
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
  const writer = writable.getWriter()
  const run = async (): Promise<void> => {
    let ids = first
    try {
      for (;;) {
        if (ids.length > 0) {
          const results = await keepAlive(cluster, ids)
          await writer.write(encoder.encode(results.map((r) => `{"result":${r}}\n`).join('')))
        }
        if (ended) break
        ids = (await nextRequests()).map(keepAliveId)
      }
    } catch (e) {
      await writer.write(encoder.encode(`${errorBody(toEtcdError(e))}\n`)).catch(() => undefined)
    }
    await writer.close().catch(() => undefined)
    await reader?.cancel().catch(() => undefined)
  }
  c.executionCtx.waitUntil(run())
  return new Response(readable, {
    encodeBody: 'manual',
    status: 200,
    headers: {
      'Access-Control-Allow-Headers': 'accept, content-type, authorization',
      'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
      'Access-Control-Allow-Origin': '*',
      'Content-Type': 'application/json',
      'Grpc-Metadata-Content-Type': 'application/grpc',
      'Content-Encoding': 'identity',
      'Cache-Control': 'no-transform',
    },
  })
}

/**
 * The WebSocket keepalive stream, held by the front door itself (keepalives are short calls to
 * the leader; nothing needs to survive hibernation): one LeaseKeepAliveRequest per text frame,
 * one `{"result":...}` frame back, in order. A bad frame gets etcd's error and closes the socket.
 */
function keepAliveSocket(c: Context<AppEnv>): Response {
  const cluster = clusterOf(c)
  const { 0: client, 1: server } = new WebSocketPair()
  server.accept()
  let chain = Promise.resolve()
  server.addEventListener('message', (event) => {
    const text = typeof event.data === 'string' ? event.data : new TextDecoder().decode(event.data)
    chain = chain.then(async () => {
      try {
        const [result] = await keepAlive(cluster, [keepAliveId(text)])
        server.send(`{"result":${result!}}`)
      } catch (e) {
        server.send(errorBody(toEtcdError(e)))
        server.close(1011, 'keepalive failed')
      }
    })
  })
  server.addEventListener('close', (event) => {
    try {
      server.close(event.code === 1005 ? 1000 : event.code, 'closed')
    } catch {
      // already closed
    }
  })
  return new Response(null, { status: 101, webSocket: client })
}
