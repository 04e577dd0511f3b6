// A Transport whose requests enter the cluster at different members: each op goes, by the
// client's own seeded choice, to the front door (which routes to the leader, with failover) or
// to one named member through the DEV_FAULTS route /_dev/members/:name/v3/… (a write there is
// forwarded to the leader by that member; a linearizable read there does its own ReadIndex
// round). So a history includes requests that entered at followers, as etcd clients spread
// over endpoints do.
import { createRng, type Xoshiro128 } from '../../src/raft/rng.ts'
import { httpTransport, type HttpAnswer, type Transport } from './history.ts'

/** The front door's label in `via`. */
export const FRONT_DOOR = 'front'

/** Where each op enters: `targets` holds member names and/or FRONT_DOOR. */
export function memberTransport(baseUrl: string, seed: number, targets: string[]): Transport {
  const rngs = new Map<number, Xoshiro128>()
  const inner = httpTransport(baseUrl)
  const rngOf = (clientId: number): Xoshiro128 => {
    let rng = rngs.get(clientId)
    if (!rng) {
      // Its own stream, apart from the op schedule's (history.ts clientRng).
      rng = createRng((seed ^ Math.imul(clientId + 1, 0x85ebca6b) ^ 0x27d4eb2f) >>> 0)
      rngs.set(clientId, rng)
    }
    return rng
  }
  return {
    async post(clientId, path, body, signal): Promise<HttpAnswer> {
      const via = targets[rngOf(clientId).int(targets.length)]!
      const prefix = via === FRONT_DOOR ? '' : `/_dev/members/${via}`
      try {
        return { ...(await inner.post(clientId, prefix + path, body, signal)), via }
      } catch (e) {
        throw Object.assign(e instanceof Error ? e : new Error(String(e)), { via })
      }
    },
  }
}
