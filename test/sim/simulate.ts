// One simulation run: a seed picks the cluster size, the fault knobs ("swarm" testing: each
// fault is on or off and at what rate, per seed) and every event. Phase 1 runs the workload
// under faults with safety checks after every step; phase 2 heals everything and requires the
// cluster to elect a leader and apply a fresh proposal on every member within a bound.

import type { Xoshiro128 } from '../../src/raft/index.ts'
import { createRng, ProposalDroppedError } from '../../src/raft/index.ts'
import { Violation } from './checker.ts'
import type { NodeKnobs } from './cluster.ts'
import { Cluster } from './cluster.ts'
import type { NetworkFaults } from './network.ts'

/** Microsteps per tick: network latency is measured in microsteps. */
export const MICROSTEPS_PER_TICK = 10
/** Ticks allowed after healing for a leader to emerge and a proposal to reach every member. */
export const LIVENESS_TICKS = 400

/** Options of one run. */
export interface SimOptions {
  seed: number
  /** Ticks of the faulty phase. Default 300. */
  ticks?: number
  /** Force the cluster size (default: seeded choice of 3, 5 or 7). */
  nodes?: number
  /** Deliberate raft bugs (to prove the checkers bite). */
  unsafe?: NodeKnobs['unsafe']
  /** Keep a trace of the last events (printed on failure). */
  trace?: boolean
}

/** The knobs one seed chose. */
export interface Swarm {
  nodes: number
  net: NetworkFaults
  partitions: 'none' | 'symmetric' | 'asymmetric' | 'rotating'
  partitionPeriodTicks: number
  crashRate: number
  /** Whether the transport reports snapshot delivery (reportSnapshot), as it should. */
  reportSnapshots: boolean
  crashAfterPersistRate: number
  tickSkew: number
  proposeRate: number
  readRate: number
  confChangeRate: number
  transferRate: number
  knobs: NodeKnobs
}

/** The outcome of one run. */
export interface SimResult {
  seed: number
  swarm: Swarm
  violation?: string
  trace?: string[]
  stats: {
    leaders: number
    committed: number
    applied: number
    messages: number
    dropped: number
    crashes: number
    reads: number
    readsServed: number
    confChanges: number
    confChangesApplied: number
    snapshotsInstalled: number
    transfers: number
    livenessTicks: number
    checks: number
  }
}

function pick<T>(rng: Xoshiro128, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!
}

/** Chooses every fault knob from the seed. */
export function chooseSwarm(rng: Xoshiro128, opts: SimOptions): Swarm {
  const on = (p = 0.5): boolean => rng.float() < p
  return {
    nodes: opts.nodes ?? pick(rng, [3, 3, 5, 5, 7]),
    net: {
      dropRate: on() ? pick(rng, [0.01, 0.05, 0.1, 0.3]) : 0,
      dupRate: on() ? pick(rng, [0.01, 0.05, 0.2]) : 0,
      maxLatency: pick(rng, [1, 3, 10, 30, 60]),
    },
    partitions: pick(rng, ['none', 'symmetric', 'asymmetric', 'rotating'] as const),
    partitionPeriodTicks: pick(rng, [5, 20, 50]),
    crashRate: on() ? pick(rng, [0.002, 0.01, 0.03]) : 0,
    reportSnapshots: on(0.8),
    crashAfterPersistRate: on(0.3) ? pick(rng, [0.005, 0.02]) : 0,
    tickSkew: on() ? pick(rng, [0.1, 0.3]) : 0,
    proposeRate: pick(rng, [0.2, 1, 4]),
    readRate: pick(rng, [0, 0.2, 1]),
    confChangeRate: on() ? pick(rng, [0.002, 0.01]) : 0,
    transferRate: on() ? pick(rng, [0.002, 0.01]) : 0,
    knobs: {
      maxSizePerMsg: pick(rng, [64, 1024, 1024 * 1024]),
      maxInflightMsgs: pick(rng, [1, 4, 256]),
      snapshotCount: pick(rng, [5, 20, 100]),
      keepEntries: pick(rng, [0, 3, 20]),
      persistApplied: on(),
      preVote: on(0.8),
      checkQuorum: on(0.8),
      ...(opts.unsafe ? { unsafe: opts.unsafe } : {}),
    },
  }
}

/** Runs one seeded simulation. Never throws for a violation: it is reported in the result. */
export function simulate(opts: SimOptions): SimResult {
  const rng = createRng(opts.seed)
  const swarm = chooseSwarm(rng, opts)
  const ids = Array.from({ length: swarm.nodes }, (_, i) => `n${i + 1}`)
  const cluster = Cluster.create(rng, swarm.knobs, ids)
  cluster.reportSnapshots = swarm.reportSnapshots
  if (opts.trace) cluster.trace = []
  const sim = new Run(cluster, rng, swarm, opts)
  const result: SimResult = { seed: opts.seed, swarm, stats: sim.stats }
  try {
    sim.faultPhase(opts.ticks ?? 300)
    sim.livenessPhase()
  } catch (e) {
    if (!(e instanceof Violation)) {
      result.violation = `crash: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`
    } else {
      result.violation = e.message
    }
  }
  result.stats.checks = cluster.checker.checks
  result.stats.leaders = cluster.checker.leaderTerms()
  result.stats.readsServed = cluster.checker.readsServed
  result.stats.confChangesApplied = cluster.confChangesApplied.size
  result.stats.snapshotsInstalled = cluster.snapshotsInstalled
  if (opts.trace) result.trace = cluster.trace
  return result
}

class Run {
  readonly stats: SimResult['stats'] = {
    leaders: 0,
    committed: 0,
    applied: 0,
    messages: 0,
    dropped: 0,
    crashes: 0,
    reads: 0,
    readsServed: 0,
    confChanges: 0,
    confChangesApplied: 0,
    snapshotsInstalled: 0,
    transfers: 0,
    livenessTicks: 0,
    checks: 0,
  }
  private seq = 0
  private spare = 0
  private faulty = true
  private downUntil = new Map<string, number>()

  readonly c: Cluster
  readonly rng: Xoshiro128
  readonly swarm: Swarm
  readonly opts: SimOptions

  constructor(c: Cluster, rng: Xoshiro128, swarm: Swarm, opts: SimOptions) {
    this.c = c
    this.rng = rng
    this.swarm = swarm
    this.opts = opts
  }

  faultPhase(ticks: number): void {
    this.c.net.faults = { ...this.swarm.net }
    for (let t = 0; t < ticks; t++) {
      this.maybeChangePartition(t)
      this.maybeCrashOrRestart()
      for (let ms = 0; ms < MICROSTEPS_PER_TICK; ms++) {
        this.clientOps()
        this.deliverDue()
        this.c.now++
      }
      this.tickAll(this.swarm.tickSkew)
    }
    this.collectStats()
  }

  /** Heal everything, then require a leader and a committed-and-applied proposal in bounds. */
  livenessPhase(): void {
    const c = this.c
    this.faulty = false
    c.net.heal()
    c.net.faults = { dropRate: 0, dupRate: 0, maxLatency: Math.min(this.swarm.net.maxLatency, 5) }
    for (const n of c.nodes.values()) if (!n.alive) c.start(n)
    const marker = `live-${this.opts.seed}`
    let proposed = false
    for (let t = 0; t < LIVENESS_TICKS; t++) {
      this.stats.livenessTicks = t
      for (let ms = 0; ms < MICROSTEPS_PER_TICK; ms++) {
        this.deliverDue()
        c.now++
      }
      this.tickAll(0)
      const leader = c.leader()
      if (!leader) continue
      if (!c.appliedData.has(marker) && (!proposed || t % 20 === 0)) {
        try {
          leader.node!.propose(marker)
          proposed = true
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e
        }
      }
      if (this.converged(marker)) {
        this.collectStats()
        return
      }
    }
    const st = [...c.nodes.values()].map((n) => {
      const s = n.node?.status()
      return s
        ? `${n.id}:${s.state}/t${s.term}/c${s.commit}/a${s.applied}/lead=${s.lead}`
        : `${n.id}:down`
    })
    const l = c.leader()?.node?.status()
    const cfg = l
      ? ` config=${JSON.stringify(l.config)} progress=${JSON.stringify(l.progress)}`
      : ''
    throw new Violation(
      'liveness',
      `no convergence ${LIVENESS_TICKS} ticks after healing: ${st.join(' ')}${cfg}`,
    )
  }

  /** Every member of the leader's configuration applied the marker and the leader's commit. */
  private converged(marker: string): boolean {
    const leader = this.c.leader()
    if (!leader || !this.c.appliedData.has(marker)) return false
    const st = leader.node!.status()
    const members = [...st.config.voters, ...st.config.learners]
    for (const id of members) {
      const n = this.c.nodes.get(id)
      if (!n?.node) return false
      if (n.app.applied < st.commit) return false
    }
    return true
  }

  private collectStats(): void {
    this.stats.messages = this.c.net.sent
    this.stats.dropped = this.c.net.dropped
    this.stats.committed = this.c.checker.maxCommitted
    let applied = 0
    for (const n of this.c.nodes.values()) applied = Math.max(applied, n.app.applied)
    this.stats.applied = applied
  }

  private deliverDue(): void {
    for (const m of this.c.net.due(this.c.now)) {
      const crashAfter =
        this.faulty &&
        this.swarm.crashAfterPersistRate > 0 &&
        this.rng.float() < this.swarm.crashAfterPersistRate
      this.c.deliver(m)
      if (crashAfter) {
        const n = this.c.nodes.get(m.to)
        if (n?.node) {
          // Crash right after the next persist: the Ready's messages are never sent.
          n.node.tick()
          this.c.handleReady(n, true)
          if (!n.node) this.markDown(n.id)
        }
      }
    }
  }

  private tickAll(skew: number): void {
    for (const n of this.c.nodes.values()) {
      if (!n.node) continue
      if (skew > 0 && this.rng.float() < skew) continue
      n.node.tick()
      this.c.handleReady(n)
    }
  }

  private markDown(id: string): void {
    this.stats.crashes++
    this.downUntil.set(id, this.c.now + MICROSTEPS_PER_TICK * (5 + this.rng.int(60)))
  }

  private maybeCrashOrRestart(): void {
    for (const n of this.c.nodes.values()) {
      if (!n.node) {
        const until = this.downUntil.get(n.id) ?? 0
        if (this.c.now >= until) this.c.start(n)
      } else if (this.swarm.crashRate > 0 && this.rng.float() < this.swarm.crashRate) {
        this.c.crash(n)
        this.markDown(n.id)
      }
    }
  }

  private maybeChangePartition(tick: number): void {
    const s = this.swarm
    if (s.partitions === 'none' || tick % s.partitionPeriodTicks !== 0) return
    const net = this.c.net
    net.heal()
    if (this.rng.float() < 0.3) return // a healed period
    const ids = [...this.c.nodes.keys()]
    switch (s.partitions) {
      case 'symmetric': {
        const a = ids.filter(() => this.rng.float() < 0.5)
        net.partitionSymmetric(
          a,
          ids.filter((x) => !a.includes(x)),
        )
        break
      }
      case 'asymmetric': {
        // A random set of one-way cuts: some nodes can send but not receive, or vice versa.
        for (const x of ids)
          for (const y of ids) if (x !== y && this.rng.float() < 0.25) net.cut(x, y)
        break
      }
      case 'rotating': {
        // Isolate one node (the next in turn) from everyone.
        const x = ids[Math.floor(tick / s.partitionPeriodTicks) % ids.length]!
        net.partitionSymmetric(
          [x],
          ids.filter((y) => y !== x),
        )
        break
      }
    }
  }

  private clientOps(): void {
    const s = this.swarm
    if (this.rng.float() < s.proposeRate / MICROSTEPS_PER_TICK) this.propose()
    if (s.readRate > 0 && this.rng.float() < s.readRate / MICROSTEPS_PER_TICK) this.read()
    if (s.confChangeRate > 0 && this.rng.float() < s.confChangeRate) this.confChange()
    if (s.transferRate > 0 && this.rng.float() < s.transferRate) this.transfer()
  }

  private randomAlive() {
    const alive = this.c.alive()
    return alive.length === 0 ? undefined : alive[this.rng.int(alive.length)]
  }

  private dropping(f: () => void): void {
    try {
      f()
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e
    }
  }

  private propose(): void {
    const n = this.randomAlive()
    if (!n) return
    if (this.rng.float() < 0.2) {
      const batch = Array.from({ length: 1 + this.rng.int(5) }, () => `p${this.seq++}`)
      this.dropping(() => n.node!.proposeMany(batch))
    } else {
      this.dropping(() => n.node!.propose(`p${this.seq++}`))
    }
    this.c.handleReady(n)
  }

  private read(): void {
    const n = this.randomAlive()
    if (!n) return
    const ctx = `r${this.seq++}`
    this.c.checker.onReadStart(ctx)
    this.stats.reads++
    this.dropping(() => n.node!.readIndex(ctx))
    this.c.handleReady(n)
  }

  private transfer(): void {
    const l = this.c.leader()
    if (!l) return
    const voters = l.node!.status().config.voters.filter((v) => v !== l.id)
    if (voters.length === 0) return
    this.stats.transfers++
    l.node!.transferLeader(voters[this.rng.int(voters.length)]!)
    this.c.handleReady(l)
  }

  private confChange(): void {
    const l = this.c.leader()
    if (!l) return
    const cfg = l.node!.status().config
    const r = this.rng.float()
    let cc: { type: 'addNode' | 'removeNode' | 'addLearner' | 'promoteLearner'; nodeId: string }
    if (r < 0.35 && this.spare < 4) {
      const id = `s${++this.spare}`
      this.c.addNode(id, [])
      cc = { type: this.rng.float() < 0.5 ? 'addLearner' : 'addNode', nodeId: id }
    } else if (r < 0.6 && cfg.learners.length > 0) {
      cc = { type: 'promoteLearner', nodeId: pick(this.rng, cfg.learners) }
    } else if (cfg.voters.length > 3 || cfg.learners.length > 0) {
      const pool = cfg.voters.length > 3 ? [...cfg.voters, ...cfg.learners] : cfg.learners
      cc = { type: 'removeNode', nodeId: pick(this.rng, pool) }
    } else {
      return
    }
    this.stats.confChanges++
    this.dropping(() => l.node!.proposeConfChange(cc))
    this.c.handleReady(l)
  }
}
