// The front door's picture of the membership, per isolate. The truth is the replicated
// membership in the members (src/member/membership.ts); INITIAL_CLUSTER only seeds discovery:
// - on a cold isolate the seeds are asked who they are (`describe`, which starts nothing);
//   if every seed is fresh, this is a new cluster and the seeds are started as `bootstrap`;
//   otherwise the membership of the most advanced member is adopted (a removed member answers
//   with the membership it last knew: a forwarding address);
// - every member of the adopted membership is started (as `join`: a member with no storage
//   waits for the leader) and the picture is refreshed every few seconds and after a change.
// `FORCE_NEW_CLUSTER=<member>` (disaster recovery) first makes that member the only voter.
import type { ClusterConfig } from '../member/config.ts'
import type { Env } from '../member/env.ts'
import type { MemberRecord } from '../member/membership.ts'
import type { MemberDescription } from '../member/member-shell.ts'
import { memberHandles, recordHandles, type MemberHandle } from './members.ts'

/** How old the picture may get before a request refreshes it (in the background). */
const REFRESH_MS = 3_000
/** At most this many in-flight requests are updated in place by the first discovery. */
const WAITING_MAX = 256
/** How long a member may take to describe itself during discovery. */
const DESCRIBE_TIMEOUT_MS = 2_000

interface View {
  /** The adopted membership; undefined until discovered (requests use the seeds). */
  records: MemberRecord[] | undefined
  discovered: boolean
  refreshedAtMs: number
  refreshing: Promise<void> | undefined
  /**
   * Member lists handed to requests before the first discovery: updated IN PLACE when it ends,
   * so a request failing over between seeds (routing.ts re-reads the array each pass) reaches
   * the members discovered meanwhile. Emptied after the first discovery.
   */
  waiting: MemberHandle[][]
}

const views = new Map<string, View>()
/** Objects this isolate already started (alarms keep them ticking after that). */
const woken = new Set<string>()

function handlesOf(env: Env, config: ClusterConfig, view: View): MemberHandle[] {
  return view.records ? recordHandles(env, config, view.records) : memberHandles(env, config)
}

/** The members of the cluster as this isolate knows them; refreshes in the background. */
export function currentMembers(
  env: Env,
  config: ClusterConfig,
  waitUntil: (p: Promise<unknown>) => void,
): MemberHandle[] {
  const view = viewOf(config)
  if (view.refreshing === undefined && Date.now() - view.refreshedAtMs > REFRESH_MS) {
    view.refreshing = refresh(env, config, view)
      .catch(() => undefined)
      .finally(() => {
        view.refreshing = undefined
        if (view.discovered) view.waiting = []
      })
    waitUntil(view.refreshing)
  }
  const members = handlesOf(env, config, view)
  // Bounded: while no member answers (an outage), requests must not pile up here.
  if (!view.discovered && view.waiting.length < WAITING_MAX) view.waiting.push(members)
  return members
}

/** Waits for the first discovery of this isolate (routes that must not act on seeds alone). */
export async function discoveredMembers(
  env: Env,
  config: ClusterConfig,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<MemberHandle[]> {
  currentMembers(env, config, waitUntil)
  const view = viewOf(config)
  if (!view.discovered && view.refreshing) await view.refreshing
  return handlesOf(env, config, view)
}

/** Adopts a membership a member just reported (after a change) and starts new members. */
export function adoptMembers(env: Env, config: ClusterConfig, records: MemberRecord[]): void {
  const view = viewOf(config)
  view.records = records
  view.discovered = true
  view.refreshedAtMs = Date.now()
  for (const waiting of view.waiting) setMembers(waiting, recordHandles(env, config, records))
  view.waiting = []
  wakeAll(recordHandles(env, config, records))
}

function viewOf(config: ClusterConfig): View {
  let view = views.get(config.clusterName)
  if (!view) {
    view = {
      records: undefined,
      discovered: false,
      refreshedAtMs: 0,
      refreshing: undefined,
      waiting: [],
    }
    views.set(config.clusterName, view)
  }
  return view
}

function setMembers(target: MemberHandle[], members: MemberHandle[]): void {
  target.splice(0, target.length, ...members)
}

async function describe(m: MemberHandle): Promise<MemberDescription | undefined> {
  const timeout = new Promise<undefined>((resolve) =>
    setTimeout(() => resolve(undefined), DESCRIBE_TIMEOUT_MS),
  )
  return Promise.race([m.stub.describe().catch(() => undefined), timeout])
}

async function refresh(env: Env, config: ClusterConfig, view: View): Promise<void> {
  const seeds = memberHandles(env, config)
  let answers = await Promise.all(handlesOf(env, config, view).map(describe))
  if (view.discovered && !answers.some((a) => a?.state === 'started')) {
    answers = await Promise.all(seeds.map(describe))
  }
  if (!view.discovered && config.forceNewCluster !== undefined) {
    await forceNewCluster(env, config, seeds, answers, config.forceNewCluster)
    answers = await Promise.all(handlesOf(env, config, view).map(describe))
  }
  const started = answers
    .filter((a) => a?.state === 'started')
    .sort((a, b) => b.appliedIndex - a.appliedIndex)[0]
  const retired = answers.find((a) => a?.state === 'retired')
  if (started) {
    adoptMembers(env, config, started.members)
    return
  }
  if (retired && retired.members.length > 0) {
    // A forwarding address: adopt it now; the next refresh asks those members themselves.
    adoptMembers(env, config, retired.members)
    view.refreshedAtMs = 0
    return
  }
  if (!view.discovered && answers.every((a) => a?.state === 'fresh')) {
    // A brand-new cluster: every seed answered and none has storage.
    view.discovered = true
    view.refreshedAtMs = Date.now()
    await Promise.all(seeds.map((m) => m.stub.start(m.spec.name, 'bootstrap', m.id)))
    for (const m of seeds) woken.add(m.objectName)
  }
}

/**
 * Disaster recovery: FORCE_NEW_CLUSTER=<name>[#tag] names the surviving member, an
 * INITIAL_CLUSTER member or any member the answers so far know of. The member acts once per
 * value; afterwards the membership it reports (itself alone) is adopted as usual.
 */
async function forceNewCluster(
  env: Env,
  config: ClusterConfig,
  seeds: MemberHandle[],
  answers: (MemberDescription | undefined)[],
  token: string,
): Promise<void> {
  const name = token.split('#')[0] ?? token
  const known = answers.flatMap((a) => (a && a.state !== 'fresh' ? a.members : []))
  const record = known.find((m) => m.name === name)
  const survivor = record
    ? recordHandles(env, config, [record])[0]
    : seeds.find((m) => m.spec.name === name)
  if (!survivor) throw new Error(`FORCE_NEW_CLUSTER: no member named ${name}`)
  await survivor.stub.forceNewCluster(survivor.spec.name, token)
  // It is the whole cluster now: adopt it before anything else is asked.
  adoptMembers(env, config, [
    { id: survivor.id, name, peerUrls: [], objectName: survivor.objectName, isLearner: false },
  ])
}

function wakeAll(members: MemberHandle[]): void {
  for (const m of members) {
    if (woken.has(m.objectName)) continue
    woken.add(m.objectName)
    m.stub.start(m.spec.name, 'join', m.id).catch(() => woken.delete(m.objectName))
  }
}
