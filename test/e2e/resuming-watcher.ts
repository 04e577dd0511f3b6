// A watching client that survives faults: it watches one key range over a WebSocket (etcd's
// websocket proxy protocol, one WatchRequest per frame) and, whenever its connection ends (a
// crashed member, a killed runtime, a cut), reconnects to whichever entry point `entry()` names
// next — the front door or one member through the DEV_FAULTS route — and resumes from its last
// seen revision + 1. Everything it received, tagged with the connection, is what
// watch-guarantees.ts checks.
import WebSocket from 'ws'
import type { WatchResult } from '../support/watch-client.ts'
import type { Received } from './watch-guarantees.ts'

/** What to watch, and where to (re)connect. */
export interface ResumingWatcherOptions {
  url: string
  /** base64 key and range_end of the watched range. */
  key: string
  rangeEnd: string
  startRevision: number
  /** The entry point of the next connection: a member's name, or '' for the front door. */
  entry: () => string
}

/** A running watcher. */
export interface ResumingWatcher {
  received: Received[]
  /** The revision it would resume from (last event's revision + 1). */
  next(): number
  connections(): number
  /** The entry point of each connection, in order. */
  entries(): string[]
  /** Cuts the current connection, as a network blip would; it reconnects elsewhere. */
  cut(): void
  stop(): Promise<void>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Starts watching; reconnects until stopped. */
export function resumingWatcher(options: ResumingWatcherOptions): ResumingWatcher {
  const received: Received[] = []
  const entries: string[] = []
  let next = options.startRevision
  let stopped = false
  let socket: WebSocket | undefined
  const connect = (conn: number, entry: string) =>
    new Promise<void>((resolve) => {
      const prefix = entry === '' ? '' : `/_dev/members/${entry}`
      const ws = new WebSocket(`${options.url.replace(/^http/, 'ws')}${prefix}/v3/watch`)
      socket = ws
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            create_request: {
              key: options.key,
              range_end: options.rangeEnd,
              prev_kv: true,
              start_revision: String(next),
            },
          }),
        ),
      )
      ws.on('message', (data) => {
        let result: WatchResult
        try {
          result = (JSON.parse(String(data)) as { result: WatchResult }).result
        } catch {
          ws.terminate()
          return
        }
        received.push({ connection: conn, result })
        const last = result.events?.at(-1)
        if (last) next = Number(last.kv.mod_revision) + 1
        if (result.canceled) ws.close()
      })
      ws.on('close', () => resolve())
      ws.on('error', () => resolve())
    })
  const run = async () => {
    while (!stopped) {
      const entry = options.entry()
      entries.push(entry)
      await connect(entries.length, entry)
      if (!stopped) await sleep(100)
    }
  }
  const done = run()
  return {
    received,
    next: () => next,
    connections: () => entries.length,
    entries: () => [...entries],
    cut: () => socket?.terminate(),
    stop: async () => {
      stopped = true
      socket?.terminate()
      await done
    },
  }
}

/** The base64 range_end that covers every key starting with `prefix` (etcd's prefix rule). */
export function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix)
  let i = bytes.length - 1
  while (i >= 0 && bytes[i] === 0xff) i--
  if (i < 0) return Buffer.from([0]).toString('base64')
  const end = Buffer.from(bytes.subarray(0, i + 1))
  end[i] = end[i]! + 1
  return end.toString('base64')
}
