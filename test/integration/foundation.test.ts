// The first end-to-end slice: the front door answers from real Member Durable Objects that
// have applied their SQLite migrations, exactly as etcd answers /version and /health.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'

describe('local cluster: /version and /health', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('GET /version answers in etcd shape', async () => {
    const r = await cluster.get('/version')
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' })
  })

  it('GET /health reports healthy once the members have elected a leader', async () => {
    await cluster.waitHealthy()
    const r = await cluster.get('/health')
    expect(r.status).toBe(200)
    expect(r.text).toBe('{"health":"true"}')
  })

  it('unknown routes get etcd gateway 404 text', async () => {
    const r = await cluster.post('/no/such/route', {})
    expect(r.status).toBe(404)
    expect(r.text).toBe('404 page not found\n')
  })
})
