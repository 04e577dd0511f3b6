// How the front door reaches the members of the cluster: one Durable Object stub per member,
// named `<cluster>/<member>`, created with the member's location hint when it has one.
import type { ClusterConfig, MemberSpec } from '../member/config.ts'
import type { Env } from '../member/env.ts'
import { memberId, memberObjectName } from '../member/identity.ts'

/** A member as the front door sees it: its spec and a stub to call it. */
export interface MemberHandle {
  spec: MemberSpec
  /** The member's uint64 ID (decimal). */
  id: string
  stub: DurableObjectStub<import('../member/member.ts').Member>
}

/** Object IDs and member IDs per config (hashing them per request cost CPU for nothing). */
const idsOf = new WeakMap<ClusterConfig, { objectId: DurableObjectId; id: string }[]>()

/** Stubs for every member of the cluster, in INITIAL_CLUSTER order. */
export function memberHandles(env: Env, config: ClusterConfig): MemberHandle[] {
  let ids = idsOf.get(config)
  if (!ids) {
    ids = config.members.map((spec) => ({
      objectId: env.MEMBER.idFromName(memberObjectName(config.clusterName, spec.name)),
      id: memberId(config.clusterName, spec.name),
    }))
    idsOf.set(config, ids)
  }
  return config.members.map((spec, i) => {
    const { objectId, id } = ids[i]!
    // Stubs are made per request: a stub belongs to the request that made it.
    const stub = spec.locationHint
      ? env.MEMBER.get(objectId, { locationHint: spec.locationHint as DurableObjectLocationHint })
      : env.MEMBER.get(objectId)
    return { spec, id, stub }
  })
}
