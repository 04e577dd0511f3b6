// Long-poll waits on a member's event log: "answer me when something changes in this key range at
// or after revision R". The lock and election services in the front door (src/gateway/
// concurrency.ts) wait with it for a predecessor's key to be deleted and for an election's leader
// to change. It reads the same event log as watches (mvcc_history, kept until compaction), so a
// wait can start at any revision on any member and nothing between R and now is missed; a waiter
// costs one indexed query per apply while it waits, and nothing when no waiter is there.
import type { HeaderContext } from '../api/kv-service.ts'
import { encodeKv } from '../api/kv-service.ts'
import type { KvStore } from '../mvcc/kv-store.ts'

/** Events per answer (a revision is never split, so an answer may hold a few more). */
const EVENTS_PER_ANSWER = 1000

/** What to wait for. */
export interface WaitEventsRequest {
  key: Uint8Array
  /** etcd's range_end convention (empty: the single key). */
  rangeEnd: Uint8Array
  /** The first revision of interest. */
  fromRevision: number
  /** Answer with no events after this long (the caller looks again and waits anew). */
  maxWaitMs: number
}

/** The answer: events in revision order (gateway JSON), or nothing when the wait timed out. */
export interface WaitEventsReply {
  header: HeaderContext
  /** This member's revision when it answered. */
  revision: number
  events: { type?: 'DELETE'; kv: Record<string, string> }[]
  /** Set when `fromRevision` is below the compacted revision: history is gone, look again. */
  compactRevision?: number
}

interface Waiter {
  request: WaitEventsRequest
  resolve: (reply: WaitEventsReply) => void
  timer: ReturnType<typeof setTimeout>
}

/** The pending waits of one member. */
export class EventWaiters {
  private readonly waiters = new Set<Waiter>()

  constructor(
    private readonly store: KvStore,
    private readonly header: () => HeaderContext,
  ) {}

  /** Answers at once if there are events already, else when an apply brings some or on timeout. */
  wait(request: WaitEventsRequest): Promise<WaitEventsReply> {
    const now = this.answer(request)
    if (now !== undefined) return Promise.resolve(now)
    // Later looks start after what this one saw: one query per apply reads only the new revisions.
    request = {
      ...request,
      fromRevision: Math.max(request.fromRevision, this.store.currentRevision() + 1),
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        request,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          // A last look, so "no events" holds up to the revision answered.
          resolve(this.answer(waiter.request) ?? this.reply([]))
        }, request.maxWaitMs),
      }
      this.waiters.add(waiter)
    })
  }

  /** Call after each apply: answers every waiter whose range changed. */
  notify(): void {
    for (const w of this.waiters) {
      const reply = this.answer(w.request)
      if (reply === undefined) {
        w.request.fromRevision = Math.max(w.request.fromRevision, this.store.currentRevision() + 1)
        continue
      }
      clearTimeout(w.timer)
      this.waiters.delete(w)
      w.resolve(reply)
    }
  }

  /** The answer for a request if there is one now (events, or history compacted away). */
  private answer(r: WaitEventsRequest): WaitEventsReply | undefined {
    if (r.fromRevision > this.store.currentRevision()) return undefined
    const compacted = this.store.compactedRevision()
    if (r.fromRevision < compacted) return { ...this.reply([]), compactRevision: compacted }
    const events = this.store.eventsSince(r.fromRevision, r.key, r.rangeEnd, EVENTS_PER_ANSWER)
    if (events.length === 0) return undefined
    return this.reply(
      events.map((e) => {
        // encodeKv writes only string fields for a key-value.
        const kv = encodeKv(e.kv) as Record<string, string>
        return e.type === 'DELETE' ? { type: 'DELETE', kv } : { kv }
      }),
    )
  }

  private reply(events: WaitEventsReply['events']): WaitEventsReply {
    return { header: this.header(), revision: this.store.currentRevision(), events }
  }
}
