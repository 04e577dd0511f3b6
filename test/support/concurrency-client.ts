// Lock and election clients as etcd's gateway users have them: plain POSTs, a blocking request
// that can be abandoned (a client that goes away), and the Observe stream (one JSON line each).

/** An answer: status and parsed JSON (undefined if not JSON). */
export interface Answer {
  status: number
  json: unknown
  text: string
}

/** POSTs a JSON body (object or raw text). */
export async function post(baseUrl: string, path: string, body: unknown): Promise<Answer> {
  const response = await fetch(baseUrl + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, json, text }
}

/** A request that may block (lock, campaign), which the client can abandon. */
export interface PendingRequest {
  answer: Promise<Answer>
  /** Whether the answer arrived. */
  done(): boolean
  /** Goes away (closes the connection), as a client that gives up or crashes. */
  abandon(): void
}

/** Starts a POST without waiting for its answer. */
export function start(baseUrl: string, path: string, body: unknown): PendingRequest {
  const controller = new AbortController()
  let finished = false
  const answer = (async (): Promise<Answer> => {
    const response = await fetch(baseUrl + path, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: controller.signal,
    })
    const text = await response.text()
    finished = true
    return { status: response.status, json: JSON.parse(text) as unknown, text }
  })()
  answer.catch(() => undefined)
  return { answer, done: () => finished, abandon: () => controller.abort() }
}

/** An open line stream (Observe). */
export interface LineStream {
  lines: unknown[]
  until(predicate: (lines: unknown[]) => boolean, timeoutMs?: number): Promise<unknown[]>
  close(): void
}

/** Opens a POST whose answer is a stream of JSON lines. */
export async function lineStream(
  baseUrl: string,
  path: string,
  body: unknown,
): Promise<LineStream> {
  const controller = new AbortController()
  const lines: unknown[] = []
  void (async () => {
    try {
      const response = await fetch(baseUrl + path, {
        method: 'POST',
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      const decoder = new TextDecoder()
      let buffer = ''
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          if (line) lines.push(JSON.parse(line))
        }
      }
    } catch {
      // closed
    }
  })()
  return {
    lines,
    until: (predicate, timeoutMs) =>
      until(
        () => predicate(lines),
        timeoutMs,
        () => lines,
      ),
    close: () => controller.abort(),
  }
}

/** Waits until `condition` holds (checked every 20 ms), failing after `timeoutMs`. */
export async function until<T>(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  value: () => T = () => undefined as T,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(value())}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return value()
}

/** base64 of a UTF-8 string. */
export const b64 = (s: string): string => Buffer.from(s).toString('base64')
/** UTF-8 of base64. */
export const unb64 = (s: string): string => Buffer.from(s, 'base64').toString()
