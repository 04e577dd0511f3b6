// The two ways a watch stream reaches a client, as etcd's gateway and websocket proxy serve
// them: a chunked HTTP response (one `{"result":...}` line per message, the request body a
// sequence of WatchRequests) and a hibernatable WebSocket (one WatchRequest per frame in, one
// `{"result":...}` per frame out).
import { errorBody, EtcdError, GrpcCode, toEtcdError } from '../api/errors.ts'
import { decodeWatchRequest, splitJsonValues } from '../api/watch.ts'
import { SocketBacklog } from './socket-backlog.ts'
import type { WatchHub, WatchStream, WatcherState } from './watch-hub.ts'

const encoder = new TextEncoder()

/** The longest a queued watch line waits for the stream's pump (see serveHttpWatch). */
const PUMP_INTERVAL_MS = 20
/** The pump's longest sleep on an idle stream. */
const PUMP_IDLE_MS = 200

/** A watch decode error as etcd's gateway reports it on a watch stream (code 2, HTTP 500). */
function streamError(err: unknown): EtcdError {
  const e = toEtcdError(err)
  return new EtcdError(GrpcCode.UNKNOWN, e.message)
}

/**
 * Serves a watch over a chunked HTTP response. The first request must decode (else etcd's 500
 * error body); later requests may keep arriving on the request body while events stream out.
 */
export async function serveHttpWatch(
  hub: WatchHub,
  body: ReadableStream<Uint8Array> | null,
): Promise<Response> {
  const reader = body?.getReader()
  const decoder = new TextDecoder()
  let pending = ''
  let ended = !reader

  /** Reads the body until at least one complete request is there, or it ends. */
  async function nextRequests(): Promise<string[]> {
    for (;;) {
      const { values, rest } = splitJsonValues(pending)
      if (values.length > 0 || ended) {
        pending = rest
        if (ended && rest.trim() !== '') {
          pending = ''
          return [...values, rest]
        }
        return values
      }
      const { done, value } = await reader!.read()
      if (done) ended = true
      else pending += decoder.decode(value, { stream: true })
    }
  }

  const first = await nextRequests()
  const firstRequests = []
  try {
    for (const text of first) firstRequests.push(decodeWatchRequest(text))
  } catch (err) {
    const e = streamError(err)
    return new Response(errorBody(e), {
      status: 500,
      headers: { 'Content-Type': 'application/json' },
    })
  }

  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, undefined, {
    highWaterMark: 1024 * 1024,
    size: (chunk) => chunk.byteLength,
  })
  const writer = writable.getWriter()
  let open = true
  // Lines are queued by whoever runs the apply (another request's context) and written by a
  // pump that runs in this watch request's own context: written from elsewhere, workerd held
  // them back until this request ran again — under steady writes, until the writes stopped
  // (docs/benchmarks.md, "Watch fan-out"). The pump wakes on a signal, or at the latest every
  // PUMP_INTERVAL_MS in case the signal's continuation is held too.
  let queue: string[] = []
  let queuedBytes = 0
  let wake: (() => void) | undefined
  const sink = {
    send(text: string): void {
      if (!open) return
      queue.push(`${text}\n`)
      queuedBytes += text.length + 1
      wake?.()
    },
    backlog: () => queuedBytes + Math.max(0, -(writer.desiredSize ?? 0)),
    close(): void {
      closeStream()
    },
  }
  function closeStream(): void {
    if (!open) return
    open = false
    hub.close(stream)
    wake?.()
  }
  // A client that went away cancels the response: stop the stream and its watchers.
  writer.closed.catch(() => closeStream())
  void (async () => {
    let interval = PUMP_INTERVAL_MS
    for (;;) {
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, interval)
      })
      wake = undefined
      // Idle streams back off (up to PUMP_IDLE_MS) so thousands of them cost little.
      interval = queue.length > 0 ? PUMP_INTERVAL_MS : Math.min(interval * 2, PUMP_IDLE_MS)
      if (queue.length > 0) {
        const lines = queue
        queue = []
        queuedBytes = 0
        try {
          await writer.write(encoder.encode(lines.join('')))
        } catch {
          closeStream()
        }
      }
      // Lines queued before the close (e.g. an error answer) were written above.
      if (!open) break
    }
    writer.close().catch(() => undefined)
    reader?.cancel().catch(() => undefined)
  })()
  const stream: WatchStream = hub.open(sink)
  for (const request of firstRequests) hub.handle(stream, request)

  // Keep reading requests from the body for as long as the client sends them.
  void (async () => {
    while (open && !ended) {
      const texts = await nextRequests().catch(() => [])
      for (const text of texts) {
        try {
          hub.handle(stream, decodeWatchRequest(text))
        } catch (err) {
          sink.send(errorBody(streamError(err)))
          closeStream()
          return
        }
      }
    }
  })()

  return new Response(readable, {
    status: 200,
    headers: {
      'Content-Type': 'application/json',
      'Grpc-Metadata-Content-Type': 'application/grpc',
    },
  })
}

/** What a watch WebSocket keeps across hibernation. */
export interface SocketAttachment {
  watchers: WatcherState[]
}

/** WebSocket watch streams of a member, keyed by socket; rebuilt from attachments on wake-up. */
export class SocketWatches {
  private readonly streams = new Map<WebSocket, WatchStream>()

  constructor(
    private readonly hub: WatchHub,
    /** The drain rate assumed for a client (see socket-backlog.ts), and the clock. */
    private readonly backlog: { drainBytesPerSec: number; now: () => number },
  ) {}

  /** The stream of a socket, opening it (from its attachment, after hibernation) if needed. */
  streamOf(ws: WebSocket): WatchStream {
    let stream = this.streams.get(ws)
    if (!stream) {
      const attachment = ws.deserializeAttachment() as SocketAttachment | null
      const { drainBytesPerSec, now } = this.backlog
      const untaken = new SocketBacklog(drainBytesPerSec, now())
      stream = this.hub.open(
        {
          send: (text) => {
            try {
              ws.send(text)
              // Frames are UTF-8 on the wire; watch JSON is ASCII (keys and values are base64).
              untaken.add(text.length, now())
            } catch {
              this.close(ws)
            }
          },
          backlog: () => untaken.current(now()),
          close: (reason) => {
            this.close(ws)
            try {
              ws.close(1008, reason.slice(0, 120))
            } catch {
              // already closed
            }
          },
        },
        attachment?.watchers ?? [],
      )
      this.streams.set(ws, stream)
    }
    return stream
  }

  /** One text frame: one WatchRequest. A bad one gets etcd's error and closes the socket. */
  message(ws: WebSocket, data: string | ArrayBuffer): void {
    const stream = this.streamOf(ws)
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data)
    try {
      this.hub.handle(stream, decodeWatchRequest(text))
    } catch (err) {
      ws.send(errorBody(streamError(err)))
      this.close(ws)
      ws.close(1007, 'invalid watch request')
      return
    }
    this.persist(ws, stream)
  }

  /** Saves every socket's watchers (next revisions moved on) so hibernation loses nothing. */
  persistAll(): void {
    for (const [ws, stream] of this.streams) this.persist(ws, stream)
  }

  close(ws: WebSocket): void {
    const stream = this.streams.get(ws)
    if (stream) this.hub.close(stream)
    this.streams.delete(ws)
  }

  private persist(ws: WebSocket, stream: WatchStream): void {
    const attachment: SocketAttachment = { watchers: [...stream.watchers.values()] }
    try {
      ws.serializeAttachment(attachment)
    } catch {
      // the socket closed under us
    }
  }
}
