// What every front-door route needs: the cluster's config and member handles for a request,
// waking the members once per isolate, and asking members for their status.
import type { Context } from 'hono'
import { GRPC_OVERHEAD_BYTES } from '../api/validate.ts'
import { readClusterConfig, type ClusterConfig } from '../member/config.ts'
import type { Env } from '../member/env.ts'
import type { MemberStatus } from '../member/member.ts'
import type { MemberHandle } from './members.ts'
import { currentMembers } from './membership-view.ts'
import { callWithFailover } from './routing.ts'

/** The front door's hono environment. */
export type AppEnv = { Bindings: Env }

/** How long the front door keeps trying members for one request (etcd clients use ~5–10 s). */
export const REQUEST_DEADLINE_MS = 10_000
/** How long /health waits for members. */
const HEALTH_TIMEOUT_MS = 2_000

/**
 * The most JSON body bytes read before parsing. etcd's limit (max-request-bytes + 512 KiB) is
 * on the decoded protobuf, which validateKvRequest checks exactly; JSON carries bytes as base64
 * (4/3) plus field names, so the raw cap is looser, only there to bound memory.
 */
export function bodyCap(config: ClusterConfig): number {
  return 2 * (config.maxRequestBytes + GRPC_OVERHEAD_BYTES)
}

/** A cluster as a request sees it. */
export interface Cluster {
  config: ClusterConfig
  members: MemberHandle[]
}

/**
 * Config per env object: the vars do not change within an isolate, and parsing them (and
 * hashing member IDs) on every request was ~3 % of the front door's CPU under load.
 */
const configs = new WeakMap<object, ClusterConfig>()

/**
 * The cluster of this request: its members as this isolate knows them (membership-view.ts;
 * the first request of an isolate discovers them and starts them, later ones refresh).
 */
export function clusterOf(c: Context<AppEnv>): Cluster {
  let config = configs.get(c.env)
  if (!config) {
    config = readClusterConfig(c.env as unknown as Record<string, unknown>)
    configs.set(c.env, config)
  }
  const members = currentMembers(c.env, config, (p) => c.executionCtx.waitUntil(p))
  const pinned = pinnedMember(c)
  return { config, members: pinned ? members.filter((m) => m.spec.name === pinned) : members }
}

/**
 * Test-only (DEV_FAULTS): the `x-edge-dev-member` header pins a request to one named member, so
 * a test's clients can enter at followers too (dev-routes.ts also serves it as /_dev/members/:name/v3/…).
 */
export const DEV_MEMBER_HEADER = 'x-edge-dev-member'

function pinnedMember(c: Context<AppEnv>): string | undefined {
  return c.env.DEV_FAULTS === 'true' ? c.req.header(DEV_MEMBER_HEADER) : undefined
}

/** Asks every member for its status; members that do not answer in time are left out. */
export async function allStatuses(members: MemberHandle[]): Promise<MemberStatus[]> {
  const timeout = new Promise<undefined>((resolve) =>
    setTimeout(() => resolve(undefined), HEALTH_TIMEOUT_MS),
  )
  const answers = await Promise.all(
    members.map((m) => Promise.race([m.stub.status(m.spec.name).catch(() => undefined), timeout])),
  )
  return answers.filter((s): s is MemberStatus => s !== undefined)
}

/** The status of whichever member answers first (failover as for any request). */
export function anyStatus({ config, members }: Cluster): Promise<MemberStatus> {
  return callWithFailover(config.clusterName, members, 'any', REQUEST_DEADLINE_MS, (m) =>
    m.stub.status(m.spec.name),
  )
}
