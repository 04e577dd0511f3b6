// Watch stream clients for the fan-out benchmark: one etcd gateway watch stream per watcher,
// over a raw loopback socket (`POST /v3/watch`, a chunked response of one `{"result":...}` line
// per message) or, for edge-etcd, over a WebSocket (one JSON frame per message). Each watcher
// stamps every event it receives with the arrival time, keyed by mod_revision, and counts
// revisions it receives more than once. Lines are not JSON-parsed (a regex picks out the
// revisions): with 1,000 watchers × 100 events/s the generator would otherwise compete with the
// servers for the same two cores.
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'

/** One watcher and what it saw. */
export interface Watcher {
  /** Resolves when the server answered created:true; rejects on an error or an early close. */
  created: Promise<void>
  /** member_id in the created response (which member serves the stream). */
  memberId: string | undefined
  /** mod_revision → arrival time (performance.now()) of the first copy. */
  received: Map<number, number>
  /** Events received again with a revision already seen. */
  duplicates: number
  /** Revisions that were received more than once (first few, for the report). */
  duplicateSamples: number[]
  /** Why the stream ended or was canceled after it was created (undefined while healthy). */
  broken: string | undefined
  /** When the last event arrived (performance.now()), 0 before any. */
  lastEventAt: number
  /** Messages (lines or frames) that carried events, and the most events one carried. */
  eventMessages: number
  maxEventsPerMessage: number
  close(): void
}

const MOD_REVISION = /"mod_revision":"(\d+)"/g
const MEMBER_ID = /"member_id":"(\d+)"/

/** Shared handling of one message (a line or a frame). */
class WatcherState implements Watcher {
  created: Promise<void>
  memberId: string | undefined
  received = new Map<number, number>()
  duplicates = 0
  duplicateSamples: number[] = []
  broken: string | undefined
  lastEventAt = 0
  eventMessages = 0
  maxEventsPerMessage = 0
  private isCreated = false
  private resolveCreated!: () => void
  private rejectCreated!: (e: Error) => void
  closeImpl: () => void = () => undefined
  closedByUs = false

  constructor() {
    this.created = new Promise<void>((resolve, reject) => {
      this.resolveCreated = resolve
      this.rejectCreated = reject
    })
    // A rejection nobody awaits yet must not crash the process.
    this.created.catch(() => undefined)
  }

  onMessage(text: string, now: number): void {
    if (!this.isCreated) {
      if (text.includes('"created":true') && !text.includes('"canceled":true')) {
        this.isCreated = true
        this.memberId = MEMBER_ID.exec(text)?.[1]
        this.resolveCreated()
      } else {
        this.fail(`before created: ${text.slice(0, 300)}`)
        return
      }
    }
    if (text.includes('"canceled":true') || text.includes('"error"')) {
      this.broken ??= `canceled/error: ${text.slice(0, 300)}`
    }
    MOD_REVISION.lastIndex = 0
    let events = 0
    for (let m = MOD_REVISION.exec(text); m; m = MOD_REVISION.exec(text)) {
      events++
      const rev = Number(m[1])
      this.lastEventAt = now
      if (this.received.has(rev)) {
        this.duplicates++
        if (this.duplicateSamples.length < 10) this.duplicateSamples.push(rev)
      } else this.received.set(rev, now)
    }
    if (events > 0) {
      this.eventMessages++
      this.maxEventsPerMessage = Math.max(this.maxEventsPerMessage, events)
    }
  }

  fail(reason: string): void {
    if (this.closedByUs) return
    if (!this.isCreated) this.rejectCreated(new Error(reason))
    else this.broken ??= reason
    this.closeImpl()
  }

  close(): void {
    this.closedByUs = true
    this.closeImpl()
  }
}

/** The body that creates one watcher on [key, rangeEnd). */
export function createRequestBody(key: Buffer, rangeEnd: Buffer): string {
  return JSON.stringify({
    create_request: { key: key.toString('base64'), range_end: rangeEnd.toString('base64') },
  })
}

/** A watch over etcd's gateway HTTP stream: one socket, one POST, an endless chunked answer. */
export function openHttpWatcher(host: string, port: number, body: string): Watcher {
  const w = new WatcherState()
  const socket: Socket = connect({ host, port, noDelay: true })
  w.closeImpl = () => socket.destroy()
  const payload = Buffer.from(body)
  socket.once('connect', () => {
    socket.write(
      Buffer.concat([
        Buffer.from(
          `POST /v3/watch HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${payload.length}\r\n\r\n`,
          'latin1',
        ),
        payload,
      ]),
    )
  })
  let head: Buffer | undefined = Buffer.alloc(0)
  let chunked = false
  // Chunked decoding state: bytes still to read in the current chunk, or -1 for a size line.
  let chunkLeft = -1
  let raw: Buffer = Buffer.alloc(0)
  let text = ''
  const onBody = (data: Buffer, now: number): void => {
    text += data.toString('utf8')
    let nl = text.indexOf('\n')
    while (nl >= 0) {
      const line = text.slice(0, nl).trim()
      if (line) w.onMessage(line, now)
      text = text.slice(nl + 1)
      nl = text.indexOf('\n')
    }
  }
  socket.on('data', (d: Buffer) => {
    const now = performance.now()
    if (head !== undefined) {
      head = Buffer.concat([head, d])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      const headText = head.toString('latin1', 0, end)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(headText)?.[1]
      const rest = head.subarray(end + 4)
      head = undefined
      if (status !== '200') {
        w.fail(`HTTP ${status}: ${rest.toString('utf8').slice(0, 300)}`)
        return
      }
      chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(headText)
      d = rest
      if (d.length === 0) return
    }
    if (!chunked) return onBody(d, now)
    raw = raw.length === 0 ? d : Buffer.concat([raw, d])
    let at = 0
    const parts: Buffer[] = []
    for (;;) {
      if (chunkLeft < 0) {
        const lineEnd = raw.indexOf('\r\n', at)
        if (lineEnd < 0) break
        const size = parseInt(raw.toString('latin1', at, lineEnd).split(';')[0]!, 16)
        at = lineEnd + 2
        if (size === 0) {
          w.fail('stream ended (last chunk)')
          return
        }
        chunkLeft = size + 2 // data + CRLF
      }
      const take = Math.min(chunkLeft, raw.length - at)
      if (take <= 0) break
      // Only the data bytes, never the CRLF that ends the chunk.
      const dataLeft = chunkLeft - 2
      if (dataLeft > 0) parts.push(raw.subarray(at, at + Math.min(take, dataLeft)))
      at += take
      chunkLeft -= take
      if (chunkLeft > 0) break
      chunkLeft = -1
    }
    raw = raw.subarray(at)
    if (parts.length > 0) onBody(parts.length === 1 ? parts[0]! : Buffer.concat(parts), now)
  })
  socket.on('error', (e) => w.fail(`socket error: ${e.message}`))
  socket.on('close', () => w.fail('connection closed by the server'))
  return w
}

/** A watch over edge-etcd's WebSocket on the same path: one frame per request and response. */
export function openWsWatcher(host: string, port: number, body: string): Watcher {
  const w = new WatcherState()
  const ws = new WebSocket(`ws://${host}:${port}/v3/watch`, { perMessageDeflate: false })
  w.closeImpl = () => ws.terminate()
  ws.on('open', () => ws.send(body))
  ws.on('message', (data: Buffer) => w.onMessage(data.toString('utf8'), performance.now()))
  ws.on('unexpected-response', (_req, res) => {
    let text = ''
    res.on('data', (c: Buffer) => (text += c.toString()))
    res.on('end', () => w.fail(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`))
  })
  ws.on('error', (e) => w.fail(`websocket error: ${e.message}`))
  ws.on('close', (code, reason) => w.fail(`websocket closed ${code} ${reason.toString()}`))
  return w
}
