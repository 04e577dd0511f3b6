// The bits of etcd's grpc-gateway HTTP behaviour every route shares: CORS headers on every
// answer, JSON and text bodies, error bodies from the one error catalog, and body size limits.
import { errorBody, messageTooLargeError, toEtcdError, type EtcdError } from '../api/errors.ts'

/** etcd's gateway adds these to every response. */
export const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
}

/**
 * etcd never compresses its answers; the platform would gzip for clients that accept it, which
 * also holds back a watch stream's lines until a compression block fills. Bodies go as they are.
 */
const AS_IS = { encodeBody: 'manual' } as const

/** A successful gRPC-gateway JSON answer. */
export function jsonResponse(body: string, status = 200): Response {
  return new Response(body, {
    ...AS_IS,
    status,
    headers: {
      ...CORS_HEADERS,
      'Content-Type': 'application/json',
      ...(status === 200 ? { 'Grpc-Metadata-Content-Type': 'application/grpc' } : {}),
    },
  })
}

/** A plain-text answer (etcd's 404 / 405 pages, /health). */
export function textResponse(body: string, status: number): Response {
  return new Response(body, {
    ...AS_IS,
    status,
    headers: { ...CORS_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
  })
}

/** A member's streamed answer (a watch), passed through with etcd's headers and uncompressed. */
export function streamResponse(response: Response): Response {
  return new Response(response.body, {
    ...AS_IS,
    status: response.status,
    headers: {
      ...CORS_HEADERS,
      ...Object.fromEntries(response.headers),
      // The edge (and Miniflare, which mimics it) gzips JSON for clients that accept it, which
      // would hold a stream's lines back; an explicit identity encoding opts out, and
      // no-transform tells intermediaries the same.
      'Content-Encoding': 'identity',
      'Cache-Control': 'no-transform',
    },
  })
}

/** Any error as etcd's gateway answers it. */
export function errorResponse(err: unknown): Response {
  const etcdError: EtcdError = toEtcdError(err)
  return jsonResponse(errorBody(etcdError), etcdError.httpStatus)
}

/**
 * Past the limit, the rest of a body is still read (and dropped, up to this much) before the
 * answer goes out: a server that answers and closes while the client is still sending makes the
 * client fail with EPIPE/ECONNRESET instead of reading etcd's 429 (the bad-input fuzzer saw it).
 */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024

/**
 * Reads a request body, refusing more than `maxBytes` before it is all in memory (etcd's gRPC
 * receive limit is max-request-bytes + 512 KiB; that error is what an oversized body gets).
 */
export async function readBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (!request.body) return ''
  // A declared length bounds the body (the runtime enforces it): read it natively.
  if (Number.isFinite(declared)) return request.text()
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > DRAIN_MAX_BYTES) {
      await reader.cancel()
      break
    }
    if (size <= maxBytes) chunks.push(value)
  }
  if (size > maxBytes || declared > maxBytes)
    throw messageTooLargeError(Number.isFinite(declared) ? declared : size, maxBytes)
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}
