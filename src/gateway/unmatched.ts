// What etcd answers for a request no route takes, measured against etcd 3.4 (the bad-input
// fuzzer, test/e2e/bad-input.test.ts, compares them):
// - OPTIONS anything: 200 with an empty body (etcd's CORS handler answers every preflight);
// - under the gateway's prefixes (/v3, /v3beta, and their subpaths; we also serve /v3alpha): a path that has a
//   route but not for this method is 405 "Method Not Allowed\n", any other path is grpc-gateway's
//   404 "Not Found\n";
// - /health and /version with another method than GET: 405, with `Allow: GET`;
// - anything else: Go's mux 404 "404 page not found\n".
import { CORS_HEADERS, textResponse } from './http.ts'

// etcd 3.4 has no /v3alpha gateway at all: there, anything unmatched is Go's plain 404.
const GATEWAY_PREFIX = /^\/v3(beta)?(\/|$)/
const GET_ONLY = new Set(['/health', '/version'])

/** The answer to `method path` when no route matched; `hasRoute` says whether any method has it. */
export function unmatchedResponse(
  method: string,
  path: string,
  hasRoute: (path: string) => boolean,
): Response {
  if (method === 'OPTIONS') return new Response(null, { status: 200, headers: CORS_HEADERS })
  if (GET_ONLY.has(path)) {
    const response = textResponse('Method Not Allowed\n', 405)
    response.headers.set('Allow', 'GET')
    return response
  }
  if (GATEWAY_PREFIX.test(path)) {
    return hasRoute(path)
      ? textResponse('Method Not Allowed\n', 405)
      : textResponse('Not Found\n', 404)
  }
  return textResponse('404 page not found\n', 404)
}
