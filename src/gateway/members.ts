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

/** Stubs for every member of the cluster, in INITIAL_CLUSTER order. */
export function memberHandles(env: Env, config: ClusterConfig): MemberHandle[] {
  return config.members.map((spec) => {
    const id = env.MEMBER.idFromName(memberObjectName(config.clusterName, spec.name))
    const stub = spec.locationHint
      ? env.MEMBER.get(id, { locationHint: spec.locationHint as DurableObjectLocationHint })
      : env.MEMBER.get(id)
    return { spec, id: memberId(config.clusterName, spec.name), stub }
  })
}
