// etcd's Lock service on the gateway: POST /v3/lock/lock (blocks until acquired) and
// /v3/lock/unlock, also under /v3beta (etcd 3.4 serves /v3beta by rewriting it to /v3, and does
// not serve /v3alpha). The work is in concurrency.ts.
import type { Context, Hono } from 'hono'
import { decodeConcurrencyRequest, type LockRoute } from '../api/lock-schema.ts'
import { bodyCap, clusterOf, type AppEnv } from './cluster.ts'
import { lock, unlock } from './concurrency.ts'
import { errorResponse, jsonResponse, readBody } from './http.ts'
import { innerClient } from './inner-client.ts'

/** The gateway prefixes etcd 3.4 serves the lock and election services under. */
export const CONCURRENCY_PREFIXES = ['/v3', '/v3beta'] as const

async function serveLock(app: Hono<AppEnv>, c: Context<AppEnv>, route: LockRoute) {
  try {
    const body = await readBody(c.req.raw, bodyCap(clusterOf(c).config))
    const decoded = decodeConcurrencyRequest(route, body)
    const client = innerClient(app, c)
    if (decoded.route === 'lock') return jsonResponse(await lock(client, decoded.request))
    if (decoded.route === 'unlock') return jsonResponse(await unlock(client, decoded.request))
    throw new Error(`not a lock route: ${route}`)
  } catch (e) {
    return errorResponse(e)
  }
}

/** Adds the Lock service's routes. */
export function registerLockRoutes(app: Hono<AppEnv>): void {
  for (const prefix of CONCURRENCY_PREFIXES) {
    for (const route of ['lock', 'unlock'] as const) {
      app.post(`${prefix}/lock/${route}`, (c) => serveLock(app, c, route))
    }
  }
}
