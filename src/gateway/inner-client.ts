// The client the lock and election services use inside the front door (etcd runs its services
// on an in-process clientv3 the same way): requests to our own v3 routes, dispatched in-process
// through the app, and member long-polls on the event log. Everything runs in the client
// request's own context, so each wait is that request's own pending I/O.
import type { Context, Hono } from 'hono'
import { EtcdError, GrpcCode, innerCallError } from '../api/errors.ts'
import type { Json } from '../api/kv-service.ts'
import { clusterOf, REQUEST_DEADLINE_MS, type AppEnv } from './cluster.ts'
import { WAIT_SLICE_MS, type InnerClient } from './concurrency.ts'
import { callWithFailover } from './routing.ts'

/** An inner answer that is not etcd's error body (e.g. a route that is not served). */
function errorOf(status: number, text: string): EtcdError {
  try {
    const body = JSON.parse(text) as { message?: unknown; code?: unknown }
    if (typeof body.message === 'string' && typeof body.code === 'number') {
      return new EtcdError(body.code, body.message)
    }
  } catch {
    // not JSON
  }
  return new EtcdError(GrpcCode.UNKNOWN, `${status}: ${text.trim()}`)
}

/** The inner client for one client request. */
export function innerClient(app: Hono<AppEnv>, c: Context<AppEnv>): InnerClient {
  const { config, members } = clusterOf(c)
  return {
    async call<T>(path: string, body: Json): Promise<T> {
      const request = new Request(`http://inner${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      })
      const response = await app.fetch(request, c.env, c.executionCtx)
      const text = await response.text()
      if (response.status !== 200) throw innerCallError(errorOf(response.status, text))
      return JSON.parse(text) as T
    },
    waitEvents: (request) =>
      callWithFailover(
        config.clusterName,
        members,
        'any',
        WAIT_SLICE_MS + REQUEST_DEADLINE_MS,
        (m) => m.stub.waitEvents(m.spec.name, request),
      ),
    signal: c.req.raw.signal,
    afterCancel: (fn) => c.executionCtx.waitUntil(fn().catch(() => undefined)),
  }
}
