// Requests whose message has no field we read (etcd 3.4's StatusRequest, MemberListRequest):
// the gateway still decodes the body, so broken JSON or a non-object is refused exactly as for
// any request, while unknown fields, `null` and an empty body pass (measured with etcd 3.4).
import { decodeError } from './errors.ts'
import { GoDecodeError, goKind, parseGoJson } from './go-json.ts'

/** Checks a body as etcd's gateway decodes an empty message. Throws EtcdError (400). */
export function decodeEmptyRequest(body: string): void {
  try {
    const node = parseGoJson(body, 'decoder')
    if (node === undefined || node.t === 'null' || node.t === 'object') return
    throw new GoDecodeError(
      `json: cannot unmarshal ${goKind(node)} into Go value of type map[string]json.RawMessage`,
    )
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}
