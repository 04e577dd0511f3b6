// The fault schedules a linearizability run can suffer, each built from the DEV_FAULTS routes
// (src/gateway/dev-routes.ts) or, for the whole runtime, from killing its process. A schedule is
// a loop of episodes: wait a while, inject one fault, hold it, heal it. Every wait, every choice
// of member (when not "the leader"/"a follower") and every fault parameter comes from the run's
// seeded generator, so a seed replays the same schedule; which member is leader at that moment
// is the runtime's doing.
import type { Xoshiro128 } from '../../src/raft/rng.ts'

/** What a schedule can do to the cluster. */
export interface FaultContext {
  rng: Xoshiro128
  members: string[]
  /** Injects a DEV_FAULTS fault into a member (errors while the runtime is down are logged). */
  fault(member: string, name: FaultName, value?: number): Promise<void>
  /** The current leader's name (highest term among members that say they lead), if any. */
  leader(): Promise<string | undefined>
  /** SIGKILL of the whole local runtime, then a restart from its persisted state. */
  killRuntime(): Promise<void>
  /** Cuts the resuming watcher's connection (it reconnects to another member). */
  cutWatcher(): void
  sleep(ms: number): Promise<void>
}

/** The member faults of src/member/member.ts. */
export type FaultName =
  'isolate' | 'heal' | 'crash' | 'drop' | 'delay' | 'skew' | 'unsafe-local-reads'

/** A fault schedule. */
export interface Schedule {
  name: string
  description: string
  /** Pause before each episode: [min, max) ms. */
  gapMs: [number, number]
  /** One episode: inject, hold, heal. */
  episode(ctx: FaultContext): Promise<void>
  /** A deliberate bug: the run must report a violation (the checker's own test). */
  expectViolation?: boolean
  /** Shortest run that still shows the schedule (kill-runtime needs time to restart). */
  minDurationMs?: number
}

const between = (rng: Xoshiro128, [min, max]: [number, number]) => min + rng.int(max - min)
const pick = <T>(rng: Xoshiro128, items: T[]): T => items[rng.int(items.length)]!

/** A follower at this moment (by the seed's choice among the non-leaders). */
async function aFollower(ctx: FaultContext): Promise<string> {
  const leader = await ctx.leader()
  return pick(
    ctx.rng,
    ctx.members.filter((m) => m !== leader),
  )
}

const followerPartition: Schedule = {
  name: 'follower-partition',
  description: 'a follower cut off from every peer for 0.5–2 s, then healed',
  gapMs: [200, 800],
  async episode(ctx) {
    const f = await aFollower(ctx)
    await ctx.fault(f, 'isolate')
    if (ctx.rng.int(2) === 0) ctx.cutWatcher()
    await ctx.sleep(between(ctx.rng, [500, 2000]))
    await ctx.fault(f, 'heal')
  },
}

const leaderPartition: Schedule = {
  name: 'leader-partition',
  description: 'the leader cut off for 1.5–3 s (a new leader is elected meanwhile), then healed',
  gapMs: [300, 1000],
  async episode(ctx) {
    const l = (await ctx.leader()) ?? pick(ctx.rng, ctx.members)
    await ctx.fault(l, 'isolate')
    if (ctx.rng.int(2) === 0) ctx.cutWatcher()
    await ctx.sleep(between(ctx.rng, [1500, 3000]))
    await ctx.fault(l, 'heal')
  },
}

const crashRestart: Schedule = {
  name: 'crash-restart',
  description: 'a member (the leader half the time) loses its memory and restarts from storage',
  gapMs: [300, 1200],
  async episode(ctx) {
    const m =
      ctx.rng.int(2) === 0
        ? ((await ctx.leader()) ?? pick(ctx.rng, ctx.members))
        : await aFollower(ctx)
    await ctx.fault(m, 'crash')
  },
}

const lossyLinks: Schedule = {
  name: 'lossy-links',
  description: 'every member drops 0–50 % of its raft batches and delays them 0–80 ms (reordering)',
  gapMs: [100, 300],
  async episode(ctx) {
    for (const m of ctx.members) {
      const drop = [0, 0.1, 0.3, 0.5][ctx.rng.int(4)]!
      const delay = [0, 10, 40, 80][ctx.rng.int(4)]!
      await ctx.fault(m, 'heal')
      if (drop > 0) await ctx.fault(m, 'drop', drop)
      if (delay > 0) await ctx.fault(m, 'delay', delay)
    }
    await ctx.sleep(between(ctx.rng, [800, 2000]))
  },
}

const killRuntime: Schedule = {
  name: 'kill-runtime',
  description:
    'the whole local runtime (front door and every member) killed with SIGKILL, restarted',
  gapMs: [1500, 3000],
  minDurationMs: 9_000,
  async episode(ctx) {
    await ctx.killRuntime()
  },
}

const tickSkew: Schedule = {
  name: 'tick-skew',
  description:
    "each member's clock runs at 0.25–4× the heartbeat interval, changing every 1–2 s; half " +
    'the time the leader is cut off meanwhile, so members with skewed clocks elect a new one',
  gapMs: [100, 300],
  async episode(ctx) {
    for (const m of ctx.members) await ctx.fault(m, 'skew', pick(ctx.rng, [0.25, 0.5, 1, 2, 4]))
    const leader = ctx.rng.int(2) === 0 ? await ctx.leader() : undefined
    if (leader !== undefined) await ctx.fault(leader, 'isolate')
    await ctx.sleep(between(ctx.rng, [1000, 2000]))
    // Heal the partition but keep the skew (the next episode sets new clocks).
    if (leader !== undefined) {
      await ctx.fault(leader, 'heal')
      await ctx.fault(leader, 'skew', pick(ctx.rng, [0.25, 0.5, 1, 2, 4]))
    }
  },
}

/** Every schedule above, one episode at a time in seeded order (not the runtime kill). */
const mixed: Schedule = {
  name: 'mixed',
  description: 'episodes of the member-level schedules above, in a seeded random order',
  gapMs: [200, 800],
  async episode(ctx) {
    const s = pick(ctx.rng, [
      followerPartition,
      leaderPartition,
      crashRestart,
      lossyLinks,
      tickSkew,
    ])
    await s.episode(ctx)
    for (const m of ctx.members) await ctx.fault(m, 'heal')
  },
}

/**
 * The checker's own test: a follower answers linearizable reads from its local state without
 * ReadIndex (a deliberate bug, DEV_FAULTS `unsafe-local-reads`) while it is cut off, so its
 * reads miss writes that completed before them. The run must report a violation.
 */
const mutationLocalReads: Schedule = {
  name: 'mutation-local-reads',
  description: 'BUG ON PURPOSE: an isolated follower serves linearizable reads locally',
  gapMs: [200, 400],
  expectViolation: true,
  async episode(ctx) {
    const f = await aFollower(ctx)
    await ctx.fault(f, 'unsafe-local-reads')
    await ctx.fault(f, 'isolate')
    await ctx.sleep(between(ctx.rng, [1500, 2500]))
    await ctx.fault(f, 'heal')
  },
}

/** The schedules `npm run jepsen` runs by default (CI runs a short one of each). */
export const SCHEDULES: Schedule[] = [
  followerPartition,
  leaderPartition,
  crashRestart,
  lossyLinks,
  killRuntime,
  tickSkew,
  mixed,
]

/** Every schedule by name, the mutation included. */
export const ALL_SCHEDULES: Schedule[] = [...SCHEDULES, mutationLocalReads]

/** A schedule by name, or an error listing the names. */
export function scheduleNamed(name: string): Schedule {
  const s = ALL_SCHEDULES.find((x) => x.name === name)
  if (!s)
    throw new Error(`no schedule ${name}; known: ${ALL_SCHEDULES.map((x) => x.name).join(', ')}`)
  return s
}
