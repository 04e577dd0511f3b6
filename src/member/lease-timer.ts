// The leader's lease duties, in the member shell: it reads the clock (Date.now, passed in), so
// the pure core never does.
//
// - Lease entries carry the leader's lease time (entryData): grant, revoke, keepalive, expire,
//   checkpoint. A leader that has not yet applied an entry of its own term refuses them
//   (MemberError NoLeader: the front door retries), see src/mvcc/lease-clock.ts.
// - Keepalives are batched: every keepalive that arrives before the next flush joins one raft
//   entry, and each is answered once that entry is applied. A keepalive is thus replicated before
//   it is acknowledged, so no leader change can forget it (etcd keeps it only in the leader's
//   memory, which is why etcd must reset TTLs on a leader change: issue #9395).
// - Expiry: on every tick the leader proposes one expire entry for the leases past their expiry
//   on its lease clock; applying it revokes each lease still expired at the entry's lease time.
// - Checkpoint: while leases exist, a checkpoint entry every CHECKPOINT_INTERVAL_MS keeps every
//   member's lease clock learned from a recent entry (it bounds how far a member that restarts
//   or installs a snapshot can lag; see docs/leases.md).
import type { LeaseIdsBody, LeaseRoute } from '../api/lease-service.ts'
import { isLeaseRoute, isLeaseWrite } from '../api/lease-service.ts'
import { KvMachine, type MachineRoute } from './kv-machine.ts'
import { MemberError, type MemberCore } from './member-core.ts'

/** How often the leader records its lease time in the log while leases exist. */
export const CHECKPOINT_INTERVAL_MS = 1_000
/** The most leases one expire entry revokes (the rest wait for the next tick). */
const EXPIRE_BATCH_MAX = 1_000
/** The most keepalives one keepalive entry carries. */
const KEEPALIVE_BATCH_MAX = 5_000

interface PendingKeepAlive {
  ids: string[]
  resolve: (responses: string[]) => void
  reject: (e: unknown) => void
}

/** The leader-side lease machinery of one member. */
export class LeaseTimer {
  private pending: PendingKeepAlive[] = []
  private flushScheduled = false
  /** Leases an expire entry in flight will revoke: not proposed again until it settles. */
  private readonly expiring = new Set<string>()
  private lastEntryLocalMs = 0
  private nextRequest = 0

  constructor(
    private readonly machine: KvMachine,
    private readonly core: () => MemberCore,
    private readonly localNowMs: () => number,
  ) {}

  /**
   * The entry data for a proposal on the leader: lease writes get the lease time (and a grant
   * without ID an ID). Throws MemberError('NoLeader') for a lease write before the leader may
   * read its lease clock.
   */
  entryData(requestId: string, route: MachineRoute, body: string): string {
    if (!isLeaseRoute(route) || !isLeaseWrite(route)) {
      return KvMachine.entry(requestId, route, body)
    }
    const nowMs = this.leaseNow()
    this.lastEntryLocalMs = this.localNowMs()
    return KvMachine.entry(
      requestId,
      route,
      body,
      route === 'lease/grant' ? { nowMs, grantId: randomLeaseId() } : { nowMs },
    )
  }

  /**
   * Keepalives on the leader: resolves with one LeaseKeepAliveResponse (JSON) per ID once the
   * batch that carries them is applied. Rejects with MemberError when not leader (or not yet).
   */
  keepAlive(ids: string[]): Promise<string[]> {
    this.leaseNow() // refuse now rather than after the flush
    return new Promise((resolve, reject) => {
      this.pending.push({ ids, resolve, reject })
      if (this.flushScheduled) return
      this.flushScheduled = true
      setTimeout(() => this.flush(), 0)
    })
  }

  private flush(): void {
    this.flushScheduled = false
    while (this.pending.length > 0) {
      const batch: PendingKeepAlive[] = []
      let size = 0
      while (this.pending.length > 0 && size < KEEPALIVE_BATCH_MAX) {
        const next = this.pending.shift()!
        batch.push(next)
        size += next.ids.length
      }
      void this.proposeKeepAlives(batch)
    }
  }

  private async proposeKeepAlives(batch: PendingKeepAlive[]): Promise<void> {
    try {
      const ids = batch.flatMap((p) => p.ids)
      const reply = (await this.propose('lease/keepalive', { ids })).value as {
        status: number
        body: string
      }
      if (reply.status !== 200) throw new Error(`keepalive entry failed: ${reply.body}`)
      const responses = (JSON.parse(reply.body) as unknown[]).map((r) => JSON.stringify(r))
      let at = 0
      for (const p of batch) {
        p.resolve(responses.slice(at, at + p.ids.length))
        at += p.ids.length
      }
    } catch (e) {
      for (const p of batch) p.reject(e)
    }
  }

  /** One heartbeat interval passed: the leader expires leases and checkpoints its lease clock. */
  tick(): void {
    const core = this.core()
    if (!core.isLeader) return
    let nowMs: number
    try {
      nowMs = this.leaseNow()
    } catch {
      return
    }
    const expired = this.machine.leases
      .expired(nowMs, EXPIRE_BATCH_MAX + this.expiring.size)
      .map(String)
      .filter((id) => !this.expiring.has(id))
      .slice(0, EXPIRE_BATCH_MAX)
    if (expired.length > 0) {
      for (const id of expired) this.expiring.add(id)
      void this.propose('lease/expire', { ids: expired })
        .catch(() => undefined)
        .finally(() => {
          for (const id of expired) this.expiring.delete(id)
        })
      return
    }
    const quiet = this.localNowMs() - this.lastEntryLocalMs >= CHECKPOINT_INTERVAL_MS
    if (quiet && this.machine.leases.count() > 0) {
      void this.propose('lease/checkpoint', {}).catch(() => undefined)
    }
  }

  /** The leader's lease time, or MemberError('NoLeader') when it may not read it (yet). */
  private leaseNow(): number {
    const core = this.core()
    if (!core.isLeader) throw new MemberError('NoLeader')
    const nowMs = this.machine.leaseClock.leaderNow(core.status().term, this.localNowMs())
    if (nowMs === undefined) throw new MemberError('NoLeader')
    return nowMs
  }

  private propose(route: LeaseRoute, body: LeaseIdsBody | object): Promise<{ value: unknown }> {
    const requestId = `lease-${crypto.randomUUID()}-${this.nextRequest++}`
    const data = this.entryData(requestId, route, JSON.stringify(body))
    return this.core().propose([{ requestId, data }])[0]!
  }
}

/** A random positive int63 lease ID, as etcd picks (never 0: 0 means "no lease"). */
function randomLeaseId(): string {
  const words = crypto.getRandomValues(new Uint32Array(2))
  const id = ((BigInt(words[0]!) << 32n) | BigInt(words[1]!)) & ((1n << 63n) - 1n)
  return id === 0n ? '1' : id.toString()
}
