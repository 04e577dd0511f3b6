// How the front door reaches the members of the cluster: one Durable Object stub per member.
// Bootstrap members (INITIAL_CLUSTER) are `<cluster>/<member>`, created with the member's
// location hint when it has one; added members live where their membership record says.
import type { ClusterConfig, MemberSpec } from '../member/config.ts'
import type { Env } from '../member/env.ts'
import { memberId, memberObjectName } from '../member/identity.ts'
import type { MemberRecord } from '../member/membership.ts'

/** A member as the front door sees it: its spec and a stub to call it. */
export interface MemberHandle {
  spec: MemberSpec
  /** The member's uint64 ID (decimal). */
  id: string
  /** Its Durable Object name. */
  objectName: string
  stub: DurableObjectStub<import('../member/member.ts').Member>
}

/** Durable Object IDs and seed member IDs by object name (hashing them per request cost CPU). */
const objectIds = new Map<string, DurableObjectId>()
const seedIds = new Map<string, string>()

/** Stubs for every member of INITIAL_CLUSTER, in its order (the seeds of discovery). */
export function memberHandles(env: Env, config: ClusterConfig): MemberHandle[] {
  return config.members.map((spec) => {
    const objectName = memberObjectName(config.clusterName, spec.name)
    let id = seedIds.get(objectName)
    if (id === undefined) {
      id = memberId(config.clusterName, spec.name)
      seedIds.set(objectName, id)
    }
    return handle(env, spec, id, objectName)
  })
}

/** Stubs for the members of a replicated membership (location hints from INITIAL_CLUSTER). */
export function recordHandles(
  env: Env,
  config: ClusterConfig,
  records: MemberRecord[],
): MemberHandle[] {
  return records.map((r) => {
    const seed = config.members.find(
      (s) => memberObjectName(config.clusterName, s.name) === r.objectName,
    )
    return handle(env, seed ?? { name: r.name }, r.id, r.objectName)
  })
}

/**
 * A handle whose stub is made on first use, in the context of the request that uses it: a stub
 * made in one request's context cannot be used from another's (workerd), and handles built by
 * a background refresh reach requests already in flight.
 */
function handle(env: Env, spec: MemberSpec, id: string, objectName: string): MemberHandle {
  let stub: MemberHandle['stub'] | undefined
  return {
    spec,
    id,
    objectName,
    get stub() {
      if (!stub) {
        let doId = objectIds.get(objectName)
        if (!doId) {
          doId = env.MEMBER.idFromName(objectName)
          objectIds.set(objectName, doId)
        }
        stub = spec.locationHint
          ? env.MEMBER.get(doId, { locationHint: spec.locationHint as DurableObjectLocationHint })
          : env.MEMBER.get(doId)
      }
      return stub
    },
  }
}
