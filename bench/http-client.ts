// A minimal HTTP/1.1 keep-alive client for the load generator: one socket, one request at a time,
// requests pre-serialized to bytes. It does what wrk does and no more, so the generator spends
// little CPU per request (node:http or fetch cost several times more, and on a 2-core box the
// generator shares the cores with the servers it measures). It understands Content-Length and
// chunked responses, which is all etcd's grpc-gateway and workerd send without Accept-Encoding.
import { connect, type Socket } from 'node:net'

/** One answer: HTTP status and the body bytes as text. */
export interface HttpResponse {
  status: number
  body: string
}

/** Serializes `POST path` with a JSON body into the bytes sent on the wire. */
export function postRequest(host: string, path: string, body: string): Buffer {
  const payload = Buffer.from(body)
  const head =
    `POST ${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${payload.length}\r\n` +
    '\r\n'
  return Buffer.concat([Buffer.from(head, 'latin1'), payload])
}

const CRLF = Buffer.from('\r\n')
const HEADERS_END = Buffer.from('\r\n\r\n')

/**
 * Parses one complete response at the start of `buf`. Returns the response and how many bytes it
 * took, or undefined if more bytes are needed. Throws on a malformed response.
 */
export function parseResponse(
  buf: Buffer,
): { response: HttpResponse; size: number; close: boolean } | undefined {
  const headEnd = buf.indexOf(HEADERS_END)
  if (headEnd < 0) return undefined
  const head = buf.toString('latin1', 0, headEnd)
  const lines = head.split('\r\n')
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
  if (!statusLine) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`)
  const status = Number(statusLine[1])
  let contentLength: number | undefined
  let chunked = false
  let close = (lines[0] ?? '').startsWith('HTTP/1.0')
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line
      .slice(colon + 1)
      .trim()
      .toLowerCase()
    if (name === 'content-length') contentLength = Number(value)
    else if (name === 'transfer-encoding') chunked = value.includes('chunked')
    else if (name === 'connection') close = value.includes('close')
  }
  const bodyStart = headEnd + HEADERS_END.length
  if (chunked) {
    const parts: Buffer[] = []
    let at = bodyStart
    for (;;) {
      const lineEnd = buf.indexOf(CRLF, at)
      if (lineEnd < 0) return undefined
      const size = parseInt(buf.toString('latin1', at, lineEnd).split(';')[0]!, 16)
      if (!Number.isFinite(size)) throw new Error('bad chunk size')
      at = lineEnd + 2
      if (size === 0) {
        // Trailers (none expected) end with an empty line.
        const trailerEnd = buf.indexOf(CRLF, at)
        if (trailerEnd < 0) return undefined
        if (trailerEnd !== at) {
          const end = buf.indexOf(HEADERS_END, at)
          if (end < 0) return undefined
          at = end + HEADERS_END.length
        } else at = trailerEnd + 2
        const body = Buffer.concat(parts).toString('utf8')
        return { response: { status, body }, size: at, close }
      }
      if (buf.length < at + size + 2) return undefined
      parts.push(buf.subarray(at, at + size))
      at += size + 2
    }
  }
  const length = contentLength ?? 0
  if (contentLength === undefined && status !== 204 && status !== 304) {
    throw new Error('response without Content-Length or chunked encoding is not supported')
  }
  if (buf.length < bodyStart + length) return undefined
  const body = buf.toString('utf8', bodyStart, bodyStart + length)
  return { response: { status, body }, size: bodyStart + length, close }
}

/** One keep-alive connection; `request` must not be called again before it settles. */
export class HttpConnection {
  private socket: Socket | undefined
  private connecting: Promise<Socket> | undefined
  private buf: Buffer = Buffer.alloc(0)
  private pending:
    | { resolve: (r: HttpResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
    | undefined

  /** How many times the socket was (re)opened. */
  opened = 0

  private readonly host: string
  private readonly port: number

  constructor(host: string, port: number) {
    this.host = host
    this.port = port
  }

  /** Sends one request and waits for its response (rejects after `timeoutMs`). */
  async request(bytes: Buffer, timeoutMs: number): Promise<HttpResponse> {
    const socket = await this.open()
    return await new Promise<HttpResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`timeout after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending = { resolve, reject, timer }
      socket.write(bytes)
    })
  }

  /** Closes the socket. */
  close(): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private async open(): Promise<Socket> {
    if (this.socket) return this.socket
    if (this.connecting) return await this.connecting
    this.connecting = new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true })
      socket.once('connect', () => {
        socket.off('error', reject)
        this.opened++
        this.buf = Buffer.alloc(0)
        socket.on('data', (d: Buffer) => this.onData(d))
        socket.on('error', (e) => this.fail(e))
        socket.on('close', () => {
          if (this.socket === socket) this.socket = undefined
          this.fail(new Error('connection closed'))
        })
        this.socket = socket
        resolve(socket)
      })
      socket.once('error', reject)
    })
    try {
      return await this.connecting
    } finally {
      this.connecting = undefined
    }
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
    let parsed
    try {
      parsed = parseResponse(this.buf)
    } catch (e) {
      this.fail(e as Error)
      return
    }
    if (!parsed) return
    this.buf = this.buf.subarray(parsed.size)
    const p = this.pending
    this.pending = undefined
    if (parsed.close) this.close()
    if (p) {
      clearTimeout(p.timer)
      p.resolve(parsed.response)
    }
  }

  private fail(e: Error): void {
    const p = this.pending
    this.pending = undefined
    this.close()
    if (p) {
      clearTimeout(p.timer)
      p.reject(e)
    }
  }
}
