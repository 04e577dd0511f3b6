// etcd's Election service on the gateway: POST /v3/election/{campaign,proclaim,leader,observe,
// resign}, also under /v3beta. Observe is a stream of `{"result": LeaderResponse}` lines, as
// grpc-gateway writes a server stream. The work is in concurrency.ts.
import type { Context, Hono } from 'hono'
import { EtcdError, toEtcdError } from '../api/errors.ts'
import { decodeConcurrencyRequest, type ElectionRoute } from '../api/lock-schema.ts'
import { bodyCap, clusterOf, type AppEnv } from './cluster.ts'
import { campaign, leader, observe, proclaim, resign, type InnerClient } from './concurrency.ts'
import { CORS_HEADERS, errorResponse, jsonResponse, readBody, streamResponse } from './http.ts'
import { innerClient } from './inner-client.ts'
import { CONCURRENCY_PREFIXES } from './lock-routes.ts'

const encoder = new TextEncoder()

/** grpc-gateway's in-stream error chunk (a stream fails after its headers went out). */
function streamErrorLine(err: EtcdError): string {
  const status = err.httpStatus
  const text = status === 500 ? 'Internal Server Error' : String(status)
  return `${JSON.stringify({
    error: { grpc_code: err.code, http_code: status, message: err.message, http_status: text },
  })}\n`
}

/** Observe: a chunked response written by this request's own loop until the client leaves. */
function observeStream(client: InnerClient, request: { name: Uint8Array }): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
  const writer = writable.getWriter()
  const send = (line: string) => writer.write(encoder.encode(line))
  void observe(client, request, send)
    .catch(async (e: unknown) => {
      if (!client.signal.aborted) await send(streamErrorLine(toEtcdError(e))).catch(() => undefined)
    })
    .finally(() => writer.close().catch(() => undefined))
  return streamResponse(
    new Response(readable, {
      headers: {
        ...CORS_HEADERS,
        'Content-Type': 'application/json',
        'Grpc-Metadata-Content-Type': 'application/grpc',
      },
    }),
  )
}

async function serveElection(app: Hono<AppEnv>, c: Context<AppEnv>, route: ElectionRoute) {
  try {
    const body = await readBody(c.req.raw, bodyCap(clusterOf(c).config))
    const decoded = decodeConcurrencyRequest(route, body)
    const client = innerClient(app, c)
    switch (decoded.route) {
      case 'campaign':
        return jsonResponse(await campaign(client, decoded.request))
      case 'proclaim':
        return jsonResponse(await proclaim(client, decoded.request))
      case 'leader':
        return jsonResponse(await leader(client, decoded.request))
      case 'resign':
        return jsonResponse(await resign(client, decoded.request))
      case 'observe':
        return observeStream(client, decoded.request)
      default:
        throw new Error(`not an election route: ${route}`)
    }
  } catch (e) {
    return errorResponse(e)
  }
}

/** Adds the Election service's routes. */
export function registerElectionRoutes(app: Hono<AppEnv>): void {
  for (const prefix of CONCURRENCY_PREFIXES) {
    for (const route of ['campaign', 'proclaim', 'leader', 'observe', 'resign'] as const) {
      app.post(`${prefix}/election/${route}`, (c) => serveElection(app, c, route))
    }
  }
}
