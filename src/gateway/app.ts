// The Worker front door: etcd's v3 HTTP/JSON API (grpc-gateway shape) in front of the members.
import { Hono } from 'hono'
import { readClusterConfig } from '../member/config.ts'
import type { Env } from '../member/env.ts'
import { memberHandles } from './members.ts'

/** Builds the front door's hono app. */
export function createApp(): Hono<{ Bindings: Env }> {
  const app = new Hono<{ Bindings: Env }>()

  // etcd: GET /version → {"etcdserver":"3.4.23","etcdcluster":"3.4.0"}, answered by a member.
  app.get('/version', async (c) => {
    const config = readClusterConfig(c.env as unknown as Record<string, unknown>)
    const [first] = memberHandles(c.env, config)
    if (!first) return c.json({ message: 'no members' }, 503)
    const status = await first.stub.status(first.spec.name)
    return c.json({
      etcdserver: status.etcdServerVersion,
      etcdcluster: status.etcdClusterVersion,
    })
  })

  // etcd: GET /health → {"health":"true"} (200) or {"health":"false"} (503).
  app.get('/health', async (c) => {
    const config = readClusterConfig(c.env as unknown as Record<string, unknown>)
    const results = await Promise.allSettled(
      memberHandles(c.env, config).map((m) => m.stub.status(m.spec.name)),
    )
    const healthy = results.filter(
      (r) => r.status === 'fulfilled' && r.value.migrationsApplied.length > 0,
    ).length
    const ok = healthy > config.members.length / 2
    return c.body(JSON.stringify({ health: String(ok) }), ok ? 200 : 503, {
      'content-type': 'text/plain; charset=utf-8',
    })
  })

  app.notFound((c) =>
    c.body('404 page not found\n', 404, { 'content-type': 'text/plain; charset=utf-8' }),
  )
  return app
}
