// Locks and elections on the local cluster, as etcd users run them over the gateway: sessions
// are leases kept alive by keepalives; a crashed client simply stops them.
//
// - Contention: N clients take one lock M times each, with holders crashing (their lease then
//   expires), a waiter giving up mid-wait, and the raft leader member crashing meanwhile. Mutual
//   exclusion is checked three ways: no two holders at once (as this process sees them), a
//   counter read and written under the lock without a txn loses no increment, and the lock goes
//   to the waiters in the order of their keys' create revisions. Every live waiter finishes.
// - Election: campaign / proclaim / leader / resign, a leader whose session dies, and an
//   Observe stream that sees every leader and every proclaimed value, in order, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestCluster, type TestCluster } from '../support/cluster.ts'
import {
  b64,
  lineStream,
  post,
  start,
  unb64,
  until,
  type Answer,
} from '../support/concurrency-client.ts'

/** Session TTL: short, so crashed holders free the lock soon (etcd's minimum here is 2 s). */
const TTL_SECONDS = 3

/** A client session: a lease kept alive until the client "crashes". */
class Session {
  lease = ''
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly url: string) {}

  async open(): Promise<this> {
    const r = await post(this.url, '/v3/lease/grant', { TTL: TTL_SECONDS })
    if (r.status !== 200) throw new Error(`grant: ${r.status} ${r.text}`)
    this.lease = (r.json as { ID: string }).ID
    this.timer = setInterval(() => void keepAlive(this.url, this.lease), 1000)
    return this
  }

  /** Stops the keepalives: the lease expires after its TTL, with every key on it. */
  crash(): void {
    clearInterval(this.timer)
  }

  close(): void {
    clearInterval(this.timer)
  }
}

/** One keepalive over the gateway's stream: send one request, read one answer, hang up. */
async function keepAlive(url: string, id: string): Promise<void> {
  const controller = new AbortController()
  try {
    const r = await fetch(`${url}/v3/lease/keepalive`, {
      method: 'POST',
      body: JSON.stringify({ ID: id }),
      signal: controller.signal,
    })
    const reader = r.body!.getReader()
    let text = ''
    while (!text.includes('\n')) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
  } catch {
    // a lost keepalive is retried by the next tick
  } finally {
    controller.abort()
  }
}

async function ok(a: Promise<Answer>): Promise<Record<string, unknown>> {
  const r = await a
  if (r.status !== 200) throw new Error(`${r.status} ${r.text}`)
  return r.json as Record<string, unknown>
}

async function leaderMember(url: string): Promise<string | undefined> {
  const all = (await (await fetch(`${url}/_dev/members`)).json()) as {
    name: string
    isLeader: boolean
  }[]
  return all.find((s) => s.isLeader)?.name
}

describe('locks and elections on the local cluster', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster({ vars: { DEV_FAULTS: 'true' } })
    await cluster.waitHealthy()
  })
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('keeps mutual exclusion under contention, with crashed holders, a waiter that gives up and a crashed raft leader', async () => {
    const url = cluster.url
    const CLIENTS = 5
    const ROUNDS = 4
    const lockName = b64('contended')
    let holders = 0
    let violations = 0
    let increments = 0
    const createRevisions: number[] = []
    let leaderCrashed = false

    const waiterKeys = async () =>
      (
        (await ok(
          post(url, '/v3/kv/range', {
            key: b64('contended/'),
            range_end: b64('contended0'),
            keys_only: true,
          }),
        )) as { kvs?: { key: string }[] }
      ).kvs?.map((kv) => kv.key) ?? []
    const quitter = await new Session(url).open()
    const giveUpWhileWaiting = async () => {
      const myKey = b64(`contended/${BigInt(quitter.lease).toString(16)}`)
      const waiting = start(url, '/v3/lock/lock', { name: lockName, lease: quitter.lease })
      await until(async () => (await waiterKeys()).includes(myKey) || waiting.done())
      // Called while client 2 holds the lock: an answer now would be a second holder.
      if (waiting.done()) violations++
      waiting.abandon()
      // etcd deletes a waiter's key when its client goes away; here that cleanup does not run yet
      // (request.signal does not fire in local workerd), so the session ends too and its key goes
      // with its lease. Either way the lock must pass on without a second holder.
      quitter.crash()
      await until(async () => !(await waiterKeys()).includes(myKey))
      gaveUp = true
    }
    let gaveUp = false

    const runClient = async (id: number): Promise<void> => {
      let session = await new Session(url).open()
      for (let round = 0; round < ROUNDS; round++) {
        const { key } = (await ok(
          post(url, '/v3/lock/lock', { name: lockName, lease: session.lease }),
        )) as { key: string }
        if (holders !== 0) violations++
        holders++
        const mine = (await ok(post(url, '/v3/kv/range', { key }))) as {
          kvs?: { create_revision: string }[]
        }
        createRevisions.push(Number(mine.kvs?.[0]?.create_revision ?? 0))
        // While client 2 holds the lock, a second session of it queues and gives up: its waiter
        // key must go (with its session's lease, see giveUpWhileWaiting).
        if (id === 2 && round === 1) await giveUpWhileWaiting()
        // Clients 0 and 1 crash while holding, once: no unlock, no more keepalives.
        if (id <= 1 && round === 1) {
          holders--
          session.crash()
          session = await new Session(url).open()
          continue
        }
        if (!leaderCrashed && createRevisions.length >= 6) {
          // The raft leader crashes while four clients wait on the lock.
          leaderCrashed = true
          const leader = await leaderMember(url)
          if (leader !== undefined) await post(url, `/_dev/members/${leader}/crash`, {})
        }
        const counter = (await ok(post(url, '/v3/kv/range', { key: b64('counter') }))) as {
          kvs?: { value?: string }[]
        }
        const value = Number(unb64(counter.kvs?.[0]?.value ?? b64('0')))
        await ok(post(url, '/v3/kv/put', { key: b64('counter'), value: b64(String(value + 1)) }))
        increments++
        holders--
        await ok(post(url, '/v3/lock/unlock', { key }))
      }
      session.close()
    }

    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => runClient(i)))
    quitter.close()

    expect(violations).toBe(0)
    expect(leaderCrashed).toBe(true)
    expect(gaveUp).toBe(true)
    expect(createRevisions).toHaveLength(CLIENTS * ROUNDS)
    expect(createRevisions).toEqual([...createRevisions].sort((a, b) => a - b))
    expect(new Set(createRevisions).size).toBe(createRevisions.length)
    const counter = (await ok(post(url, '/v3/kv/range', { key: b64('counter') }))) as {
      kvs: { value: string }[]
    }
    expect(Number(unb64(counter.kvs[0]!.value))).toBe(increments)
    expect(increments).toBe(CLIENTS * ROUNDS - 2)
    // Nothing is left queued: the abandoned waiter's key went, the crashed holders' expired.
    await until(async () => {
      const r = (await ok(
        post(url, '/v3/kv/range', { key: b64('contended/'), range_end: b64('contended0') }),
      )) as { count?: string }
      return r.count === undefined
    })
  }, 180_000)

  it('runs campaign, proclaim, leader and resign, and Observe sees every change in order', async () => {
    const url = cluster.url
    const name = b64('election')
    const observer = await lineStream(url, '/v3/election/observe', { name })
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => new Session(url).open()))
    try {
      const noLeader = await post(url, '/v3/election/leader', { name })
      expect(noLeader).toMatchObject({ status: 500, json: { error: 'election: no leader' } })

      const leaderA = (
        await ok(post(url, '/v3/election/campaign', { name, value: b64('a1'), lease: a!.lease }))
      )['leader'] as Record<string, string>
      const campaignB = start(url, '/v3/election/campaign', {
        name,
        value: b64('b1'),
        lease: b!.lease,
      })
      await until(async () => {
        const r = await post(url, '/v3/kv/range', {
          key: b64('election/'),
          range_end: b64('election0'),
          count_only: true,
        })
        return (r.json as { count?: string }).count === '2'
      })
      const campaignC = start(url, '/v3/election/campaign', {
        name,
        value: b64('c1'),
        lease: c!.lease,
      })
      await ok(post(url, '/v3/election/proclaim', { leader: leaderA, value: b64('a2') }))
      const current = await ok(post(url, '/v3/election/leader', { name }))
      expect(current['kv']).toMatchObject({ key: leaderA['key'], value: b64('a2') })
      expect(campaignB.done() || campaignC.done()).toBe(false)

      await ok(post(url, '/v3/election/resign', { leader: leaderA }))
      const leaderB = (await ok(campaignB.answer))['leader'] as Record<string, string>
      expect(campaignC.done()).toBe(false)
      const stale = await post(url, '/v3/election/proclaim', { leader: leaderA, value: b64('x') })
      expect(stale).toMatchObject({ status: 500, json: { error: 'election: not leader' } })
      await ok(post(url, '/v3/election/proclaim', { leader: leaderB, value: b64('b2') }))

      // B's process dies: its lease expires and C takes over.
      b!.crash()
      const leaderC = (await ok(campaignC.answer))['leader'] as Record<string, string>
      await ok(post(url, '/v3/election/proclaim', { leader: leaderC, value: b64('c2') }))
      await ok(post(url, '/v3/election/resign', { leader: leaderC }))
      expect(await post(url, '/v3/election/leader', { name })).toMatchObject({ status: 500 })

      const seen = await observer.until((lines) => lines.length >= 6)
      const changes = (seen as { result: { kv: { key: string; value: string } } }[]).map(
        ({ result }) => `${unb64(result.kv.key).split('/')[0]}:${unb64(result.kv.value)}`,
      )
      expect(changes).toEqual([
        'election:a1',
        'election:a2',
        'election:b1',
        'election:b2',
        'election:c1',
        'election:c2',
      ])
      const keys = (seen as { result: { kv: { key: string } } }[]).map(
        ({ result }) => result.kv.key,
      )
      expect(keys).toEqual([
        leaderA['key'],
        leaderA['key'],
        leaderB['key'],
        leaderB['key'],
        leaderC['key'],
        leaderC['key'],
      ])
    } finally {
      observer.close()
      for (const s of [a, b, c]) s?.close()
    }
  }, 120_000)
})
