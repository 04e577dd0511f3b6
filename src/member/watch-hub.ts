// The watches served by one member (DESIGN.md §8). A stream (one WebSocket or one chunked HTTP
// response) holds any number of watchers; each watcher remembers the next revision it must
// deliver. After every apply the hub reads, per watcher, the events since that revision from
// the store's event log (mvcc_history, kept until compaction) and sends them, whole revisions
// at a time. One mechanism serves live watchers, historical replay (start_revision) and a
// client resuming on another member: nothing is buffered in memory that the log does not have.
import {
  encodeWatchResponse,
  WATCH_FILTER,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from '../api/watch.ts'
import type { HeaderContext } from '../api/kv-service.ts'
import type { KvStore } from '../mvcc/kv-store.ts'
import type { MvccEvent } from '../mvcc/types.ts'
import { compareBytes, keySpan, spanContains } from '../mvcc/key-range.ts'

/** key = range_end = NUL: every key (etcd's convention). */
const ALL_KEYS = new Uint8Array([0])

/** Where a stream's responses go. */
export interface WatchSink {
  /** Sends one `{"result": ...}` text (a line or a frame). */
  send(text: string): void
  /** Bytes sent but not yet taken by the client, when the transport knows (else 0). */
  backlog(): number
  /** Ends the stream (the client is too slow, or the member is going away). */
  close(reason: string): void
}

/** One watcher, as the client created it, plus the next revision to deliver. */
export interface WatcherState {
  id: number
  key: Uint8Array
  rangeEnd: Uint8Array
  nextRev: number
  noPut: boolean
  noDelete: boolean
  prevKv: boolean
  progressNotify: boolean
  fragment: boolean
}

/** Tunables. */
export interface WatchHubOptions {
  /** Events read from the log per watcher per pass (a revision is never split). */
  eventsPerResponse: number
  /** A stream whose client has not taken this many bytes is canceled (slow consumer). */
  maxBacklogBytes: number
  /** Watchers with fragment=true get responses split at about this many key+value bytes. */
  fragmentBytes: number
}

/** The watchers of one stream. */
export class WatchStream {
  readonly watchers = new Map<number, WatcherState>()
  private nextAutoId = 0

  constructor(readonly sink: WatchSink) {}

  /** etcd's auto IDs: 0, 1, 2, … per stream, skipping IDs the client chose. */
  allocateId(): number {
    while (this.watchers.has(this.nextAutoId)) this.nextAutoId++
    return this.nextAutoId++
  }
}

/** Every watch stream of a member. */
export class WatchHub {
  private readonly streams = new Set<WatchStream>()
  /** The store revision at the last notify: watchers at exactly one past it are caught up. */
  private notifiedRevision: number

  constructor(
    private readonly store: KvStore,
    private readonly header: () => HeaderContext,
    private readonly options: WatchHubOptions,
  ) {
    this.notifiedRevision = store.currentRevision()
  }

  /** Opens a stream; `watchers` restores one that survived hibernation. */
  open(sink: WatchSink, watchers: WatcherState[] = []): WatchStream {
    const stream = new WatchStream(sink)
    for (const w of watchers) stream.watchers.set(w.id, w)
    this.streams.add(stream)
    return stream
  }

  close(stream: WatchStream): void {
    this.streams.delete(stream)
  }

  /** Handles one request from the client. */
  handle(stream: WatchStream, request: WatchRequest): void {
    switch (request.type) {
      case 'create':
        return this.create(stream, request.request)
      case 'cancel':
        if (stream.watchers.delete(request.watchId)) {
          this.send(stream, {
            revision: this.store.currentRevision(),
            watchId: request.watchId,
            canceled: true,
          })
        }
        return
      case 'progress':
        // etcd answers only when every watcher of the stream is synced (has all events).
        if ([...stream.watchers.values()].every((w) => w.nextRev > this.store.currentRevision())) {
          this.send(stream, { revision: this.store.currentRevision(), watchId: -1 })
        }
        return
      case 'empty':
        return
    }
  }

  /** Delivers whatever the store has that watchers have not seen yet (call after each apply). */
  notify(): void {
    if (![...this.streams].some((s) => s.watchers.size > 0)) {
      // Nobody watches: skip the read of the new revisions (it was ~4 % of a put's CPU).
      this.notifiedRevision = this.store.currentRevision()
      return
    }
    const shared = this.sharedEvents()
    for (const stream of this.streams) {
      for (const watcher of stream.watchers.values()) {
        if (shared && watcher.nextRev === shared.from) this.deliverShared(stream, watcher, shared)
        else this.deliver(stream, watcher)
      }
      const backlog = stream.sink.backlog()
      if (backlog > this.options.maxBacklogBytes) this.cancelSlow(stream, backlog)
    }
  }

  /**
   * A stream whose client leaves too much untaken ends: every watcher gets etcd's cancel
   * response with the reason (queued behind what the client has not read yet), then the
   * stream closes with the same reason. The client resumes with start_revision.
   */
  private cancelSlow(stream: WatchStream, backlog: number): void {
    const reason =
      `slow consumer: ${Math.round(backlog)} bytes not yet taken by the client ` +
      `(limit ${this.options.maxBacklogBytes})`
    const revision = this.store.currentRevision()
    for (const w of stream.watchers.values()) {
      this.send(stream, { revision, watchId: w.id, canceled: true, cancelReason: reason })
    }
    stream.watchers.clear()
    this.close(stream)
    stream.sink.close(reason)
  }

  /**
   * Watchers that are caught up all need the same new revisions: read them once, for every key,
   * and let each watcher pick its range in memory (etcd's synced watcher group), instead of one
   * query per watcher. Undefined when there is nothing new or too much to hold (then watchers
   * read their own pages).
   */
  private sharedEvents(): { from: number; revision: number; events: MvccEvent[] } | undefined {
    const revision = this.store.currentRevision()
    const from = this.notifiedRevision + 1
    this.notifiedRevision = revision
    if (from > revision || from <= this.store.compactedRevision()) return undefined
    const limit = this.options.eventsPerResponse
    const events = this.store.eventsSince(from, ALL_KEYS, ALL_KEYS, limit + 1)
    return events.length > limit ? undefined : { from, revision, events }
  }

  private deliverShared(
    stream: WatchStream,
    w: WatcherState,
    shared: { revision: number; events: MvccEvent[] },
  ): void {
    w.nextRev = shared.revision + 1
    const span = keySpan(w.key, w.rangeEnd)
    const wanted = shared.events.filter(
      (e) => spanContains(span, e.kv.key) && (e.type === 'PUT' ? !w.noPut : !w.noDelete),
    )
    if (wanted.length > 0) this.sendEvents(stream, w, shared.revision, wanted)
  }

  /** Sends a progress notification to every synced watcher that asked for them (etcd's ticker). */
  progressNotify(): void {
    const revision = this.store.currentRevision()
    for (const stream of this.streams) {
      for (const w of stream.watchers.values()) {
        if (w.progressNotify && w.nextRev > revision) this.send(stream, { revision, watchId: w.id })
      }
    }
  }

  private create(stream: WatchStream, req: WatchCreateRequest): void {
    const revision = this.store.currentRevision()
    // etcd mvcc watchStream.Watch: a range_end (other than "\0", from-key) at or before the key
    // is refused before the duplicate-ID check (found by the bad-input fuzzer).
    const fromKey = req.rangeEnd.length === 1 && req.rangeEnd[0] === 0
    if (req.rangeEnd.length > 0 && !fromKey && compareBytes(req.key, req.rangeEnd) >= 0) {
      this.send(stream, {
        revision,
        watchId: -1,
        created: true,
        canceled: true,
        cancelReason: 'mvcc: watcher range is empty',
      })
      return
    }
    if (req.watchId !== 0 && stream.watchers.has(req.watchId)) {
      this.send(stream, {
        revision,
        watchId: -1,
        created: true,
        canceled: true,
        cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream',
      })
      return
    }
    const id = req.watchId !== 0 ? req.watchId : stream.allocateId()
    const watcher: WatcherState = {
      id,
      key: req.key,
      rangeEnd: req.rangeEnd,
      // etcd: 0 means "from now"; a negative start below the compacted revision (-1 if never
      // compacted) is canceled as compacted, like any start behind compaction (deliver does it).
      nextRev:
        req.startRevision > 0 ||
        (req.startRevision < 0 && req.startRevision < this.store.compactedRevision())
          ? req.startRevision
          : revision + 1,
      noPut: req.filters.includes(WATCH_FILTER.NOPUT),
      noDelete: req.filters.includes(WATCH_FILTER.NODELETE),
      prevKv: req.prevKv,
      progressNotify: req.progressNotify,
      fragment: req.fragment,
    }
    stream.watchers.set(id, watcher)
    this.send(stream, { revision, watchId: id, created: true })
    this.deliver(stream, watcher)
  }

  private deliver(stream: WatchStream, w: WatcherState): void {
    for (;;) {
      const revision = this.store.currentRevision()
      if (w.nextRev > revision) return
      const compacted = this.store.compactedRevision()
      if (w.nextRev < compacted) {
        // Never skip events silently: a watcher behind compaction is canceled (etcd ErrCompacted).
        stream.watchers.delete(w.id)
        // etcd sets canceled from compact_revision != 0, so after a compaction at revision 0
        // the answer says neither (measured with etcd 3.4 by the bad-input fuzzer).
        this.send(stream, {
          revision: 0,
          watchId: w.id,
          canceled: compacted !== 0,
          compactRevision: compacted,
        })
        return
      }
      const limit = this.options.eventsPerResponse
      const events = this.store.eventsSince(w.nextRev, w.key, w.rangeEnd, limit)
      const last = events[events.length - 1]
      const complete = events.length < limit || last === undefined
      w.nextRev = complete ? revision + 1 : last.kv.modRevision + 1
      const wanted = events.filter((e) => (e.type === 'PUT' ? !w.noPut : !w.noDelete))
      if (wanted.length > 0) this.sendEvents(stream, w, revision, wanted)
      if (complete) return
    }
  }

  /**
   * Sends events in one response, or, for a watcher that asked for fragments, in several when
   * one would exceed the size limit (etcd: fragment=true splits at max-request-bytes; every part
   * but the last carries fragment=true).
   */
  private sendEvents(
    stream: WatchStream,
    w: WatcherState,
    revision: number,
    events: MvccEvent[],
  ): void {
    const base = { revision, watchId: w.id, prevKv: w.prevKv }
    if (!w.fragment) return this.send(stream, { ...base, events })
    const parts: MvccEvent[][] = [[]]
    let size = 0
    for (const e of events) {
      const eventSize =
        e.kv.key.length +
        e.kv.value.length +
        (w.prevKv && e.prevKv ? e.prevKv.key.length + e.prevKv.value.length : 0)
      if (size + eventSize > this.options.fragmentBytes && parts.at(-1)!.length > 0) {
        parts.push([])
        size = 0
      }
      parts.at(-1)!.push(e)
      size += eventSize
    }
    parts.forEach((part, i) =>
      this.send(stream, { ...base, events: part, fragment: i < parts.length - 1 }),
    )
  }

  private send(stream: WatchStream, response: WatchResponse): void {
    stream.sink.send(encodeWatchResponse(response, this.header()))
  }
}
