// Watch clients as etcd users have them: the gateway's chunked HTTP stream (one JSON line per
// response) and the websocket proxy (one JSON frame per request/response).
import WebSocket from 'ws'

/** A watch response line, as etcd's gateway writes it. */
export interface WatchResult {
  header: { revision?: string; member_id?: string }
  watch_id?: string
  created?: boolean
  canceled?: boolean
  compact_revision?: string
  cancel_reason?: string
  fragment?: boolean
  events?: {
    type?: 'DELETE'
    kv: {
      key: string
      value?: string
      mod_revision: string
      version?: string
      create_revision?: string
    }
    prev_kv?: { value?: string }
  }[]
}

/** Collects the responses of an open watch stream. */
export interface WatchStreamClient {
  results: WatchResult[]
  /** Waits until `predicate` holds over the results received so far. */
  until(predicate: (results: WatchResult[]) => boolean, timeoutMs?: number): Promise<WatchResult[]>
  close(): void
}

function collector(onClose: () => void) {
  const results: WatchResult[] = []
  return {
    results,
    until: async (predicate: (r: WatchResult[]) => boolean, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs
      while (!predicate(results)) {
        if (Date.now() > deadline) {
          throw new Error(`watch timed out; got ${JSON.stringify(results)}`)
        }
        await new Promise((r) => setTimeout(r, 20))
      }
      return results
    },
    close: onClose,
  }
}

/** Opens `POST /v3/watch` with `requests` as the body and reads result lines. */
export async function httpWatch(baseUrl: string, requests: object[]): Promise<WatchStreamClient> {
  const controller = new AbortController()
  const response = await fetch(`${baseUrl}/v3/watch`, {
    method: 'POST',
    body: requests.map((r) => JSON.stringify(r)).join(''),
    signal: controller.signal,
  })
  if (response.status !== 200) throw new Error(`watch: ${response.status} ${await response.text()}`)
  const c = collector(() => controller.abort())
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          if (line) c.results.push((JSON.parse(line) as { result: WatchResult }).result)
        }
      }
    } catch {
      // aborted
    }
  })()
  return c
}

/** A watch over WebSocket: `send` one WatchRequest per frame. */
export interface SocketWatchClient extends WatchStreamClient {
  send(request: object): void
}

/** Opens a WebSocket to `/v3/watch`. */
export async function socketWatch(baseUrl: string): Promise<SocketWatchClient> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v3/watch`)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const c = collector(() => ws.close())
  ws.on('message', (data) => {
    c.results.push((JSON.parse(String(data)) as { result: WatchResult }).result)
  })
  return { ...c, send: (request) => ws.send(JSON.stringify(request)) }
}
