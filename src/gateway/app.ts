// The Worker front door: etcd's v3 HTTP/JSON API (grpc-gateway shape) in front of the members.
import { Hono, type Context } from 'hono'
import {
  decodeKvRequest,
  needsConsensus,
  validateKvRequest,
  type KvRoute,
} from '../api/kv-service.ts'
import type { KvReply } from '../member/kv-machine.ts'
import type { BatchReply, KvRead, KvWrite, MemberFailure } from '../member/member.ts'
import { anyStatus, bodyCap, clusterOf, REQUEST_DEADLINE_MS, type AppEnv } from './cluster.ts'
import { registerClusterRoutes } from './cluster-routes.ts'
import { registerDevRoutes } from './dev-routes.ts'
import { registerLeaseRoutes } from './lease-routes.ts'
import { registerMaintenanceRoutes, registerObservabilityRoutes } from './maintenance-routes.ts'
import { registerAdminRoutes, registerSnapshotRoutes } from './snapshot-routes.ts'
import { unmatchedResponse } from './unmatched.ts'
import { registerElectionRoutes } from './election-routes.ts'
import { errorResponse, jsonResponse, readBody, streamResponse, textResponse } from './http.ts'
import { registerLockRoutes } from './lock-routes.ts'
import type { MemberHandle } from './members.ts'
import { callWithFailover, RetryableError, unavailable } from './routing.ts'

/** Learns the leader a member named; turns its failure value into a retry. */
function retryOn(r: WriteResult, learnLeader: (name: string | undefined) => void): KvReply {
  learnLeader(r.leaderName)
  if ('status' in r.reply) return r.reply
  throw new RetryableError(r.reply.etcdError)
}

type WriteResult = { reply: KvReply | MemberFailure; leaderName: string | undefined }

/** The one result of a single-request call, with the leader the member named. */
function single(r: BatchReply | MemberFailure): WriteResult {
  return { reply: 'results' in r ? r.results[0]! : r, leaderName: r.leaderName }
}

// Each client request makes its own member call, from its own request context. Coalescing
// several requests into one call sent from one of them (an earlier version) made workerd cancel
// the others as hung (they waited on another request's I/O): 1–26 % of requests failed at 16–64
// connections (docs/benchmarks.md). The member side still takes batches (writeBatch/readBatch)
// and shares raft rounds between concurrent calls.
async function writeVia(m: MemberHandle, write: KvWrite): Promise<WriteResult> {
  return single(await m.stub.writeBatch(m.spec.name, [write]))
}

async function readVia(m: MemberHandle, read: KvRead, serializable: boolean): Promise<WriteResult> {
  return single(await m.stub.readBatch(m.spec.name, [read], serializable))
}

async function handleKv(c: Context<AppEnv>, route: KvRoute): Promise<Response> {
  const { config, members } = clusterOf(c)
  try {
    const body = await readBody(c.req.raw, bodyCap(config))
    const request = decodeKvRequest(route, body)
    validateKvRequest(request, {
      maxTxnOps: config.maxTxnOps,
      maxRequestBytes: config.maxRequestBytes,
    })
    const write = needsConsensus(request)
    const serializable = request.route === 'range' && request.request.serializable
    const requestId = crypto.randomUUID()
    const reply = await callWithFailover(
      config.clusterName,
      members,
      serializable ? 'any' : 'leader',
      REQUEST_DEADLINE_MS,
      async (m, learnLeader) =>
        retryOn(
          write
            ? await writeVia(m, { route, body, requestId })
            : await readVia(m, { route, body, request }, serializable),
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

/** Builds the front door's hono app. */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  // etcd's CORS handler answers every preflight before any route sees it (unmatched.ts).
  app.options('*', (c) => unmatchedResponse('OPTIONS', c.req.path, () => false))

  // etcd: GET /version → {"etcdserver":"3.4.23","etcdcluster":"3.4.0"}, answered by a member.
  app.get('/version', async (c) => {
    const { config, members } = clusterOf(c)
    const status = await anyStatus({ config, members })
    return jsonResponse(
      JSON.stringify({
        etcdserver: status.etcdServerVersion,
        etcdcluster: status.etcdClusterVersion,
      }),
    )
  })

  registerObservabilityRoutes(app)

  for (const prefix of ['/v3', '/v3beta', '/v3alpha']) {
    for (const route of ['range', 'put', 'deleterange', 'txn', 'compaction'] as const) {
      app.post(`${prefix}/kv/${route}`, (c) => handleKv(c, route))
    }

    // Watch: etcd's chunked HTTP stream (POST) or, with `Upgrade: websocket`, a WebSocket as
    // etcd's websocket proxy serves it. The stream lives on one member; any member will do, since
    // every member applies the same log and a client resumes anywhere with start_revision.
    const watch = async (c: Context<AppEnv>): Promise<Response> => {
      const { config, members } = clusterOf(c)
      const upgrade = c.req.header('Upgrade')?.toLowerCase() === 'websocket'
      if (!upgrade && c.req.method !== 'POST') return textResponse('Method Not Allowed\n', 405)
      try {
        const response = await callWithFailover(
          config.clusterName,
          members,
          'any',
          REQUEST_DEADLINE_MS,
          (m) => {
            const headers = new Headers(c.req.raw.headers)
            headers.set('x-edge-member', m.spec.name)
            return m.stub.fetch('https://member/watch', {
              method: c.req.method,
              headers,
              body: upgrade ? null : c.req.raw.body,
            })
          },
        )
        return response.status === 101 ? response : streamResponse(response)
      } catch (e) {
        return errorResponse(e)
      }
    }
    app.on(['GET', 'POST'], `${prefix}/watch`, watch)
    registerLeaseRoutes(app, prefix)

    registerMaintenanceRoutes(app, prefix)

    registerClusterRoutes(app, prefix)
    registerSnapshotRoutes(app, prefix)
  }

  registerLockRoutes(app)
  registerElectionRoutes(app)
  registerDevRoutes(app)
  registerAdminRoutes(app)

  app.notFound((c) =>
    unmatchedResponse(c.req.method, c.req.path, (path) => app.routes.some((r) => r.path === path)),
  )
  app.onError((err) => errorResponse(err))
  return app
}
