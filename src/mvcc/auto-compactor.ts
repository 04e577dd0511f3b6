// Auto-compaction as etcd 3.4 runs it (etcdserver/api/v3compactor, embed parseCompactionRetention),
// pure: time enters as an argument, and the member proposes the compactions it asks for through
// raft. Only the leader compacts (etcd pauses the compactor on followers), but every member keeps
// sampling revisions, so a new leader knows what "an hour ago" was.
//
// periodic, retention P: every P/10 (at most 6 min) sample the current revision, keeping the last
//   P/(P/10)+1 samples, so the oldest is the revision of about P ago. First compaction after P;
//   then every min(P, 1 h) after the last success, at the oldest sample.
// revision, retention N: every 5 minutes compact at current − N (when > 0 and not the last one).

/** What AUTO_COMPACTION_MODE and AUTO_COMPACTION_RETENTION ask for; null = off. */
export type AutoCompactionPolicy =
  { mode: 'periodic'; periodMs: number } | { mode: 'revision'; retention: number } | null

const HOUR_MS = 3_600_000
/** etcd revInterval: the revision compactor wakes every 5 minutes. */
export const REVISION_INTERVAL_MS = 5 * 60_000

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: HOUR_MS,
}

/** Go's time.ParseDuration, in milliseconds ("1h30m", "1.5h", "300ms"). Throws on bad input. */
export function parseGoDurationMs(text: string): number {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text)
  if (text === '0') return 0
  if (m === null) throw new Error(`time: invalid duration ${JSON.stringify(text)}`)
  let total = 0
  for (const part of text
    .slice(m[1]!.length)
    .matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * DURATION_UNITS_MS[part[2]!]!
  }
  return m[1] === '-' ? -total : total
}

/**
 * etcd's parseCompactionRetention: a bare non-negative integer is hours (periodic) or revisions
 * (revision); anything else is a Go duration — in revision mode a duration counts nanoseconds as
 * revisions, as etcd does. A zero retention turns auto-compaction off.
 */
export function autoCompactionPolicy(
  mode: 'periodic' | 'revision',
  retention: string,
): AutoCompactionPolicy {
  const hours = /^[-+]?\d+$/.test(retention) ? Number(retention) : NaN
  if (Number.isSafeInteger(hours) && hours >= 0) {
    if (hours === 0) return null
    return mode === 'periodic' ? { mode, periodMs: hours * HOUR_MS } : { mode, retention: hours }
  }
  let ms: number
  try {
    ms = parseGoDurationMs(retention)
  } catch (e) {
    throw new Error(`AUTO_COMPACTION_RETENTION: error parsing CompactionRetention: ${String(e)}`, {
      cause: e,
    })
  }
  if (ms === 0) return null
  if (ms < 0) throw new Error('AUTO_COMPACTION_RETENTION: must not be negative')
  return mode === 'periodic' ? { mode, periodMs: ms } : { mode, retention: Math.round(ms * 1e6) }
}

/** The compactor: call `tick` often (every raft tick), and `done` when a compaction it asked for ends. */
export class AutoCompactor {
  private readonly revs: number[] = []
  private nextWakeMs: number
  private lastSuccessMs: number
  private baseIntervalMs: number
  private inFlight: number | undefined
  private prevRevision = 0

  constructor(
    private readonly policy: Exclude<AutoCompactionPolicy, null>,
    startMs: number,
    startRevision: number,
    private readonly revisionIntervalMs = REVISION_INTERVAL_MS,
  ) {
    this.lastSuccessMs = startMs
    this.baseIntervalMs = policy.mode === 'periodic' ? policy.periodMs : 0
    if (policy.mode === 'periodic') this.revs.push(startRevision)
    this.nextWakeMs = startMs + this.wakeIntervalMs()
  }

  private wakeIntervalMs(): number {
    if (this.policy.mode === 'revision') return this.revisionIntervalMs
    return Math.min(this.policy.periodMs, HOUR_MS) / 10
  }

  /** How many samples the periodic compactor keeps: period / retry interval + 1. */
  private retentions(): number {
    if (this.policy.mode !== 'periodic') return 0
    return Math.floor(this.policy.periodMs / this.wakeIntervalMs()) + 1
  }

  /**
   * Time passed. Returns a revision to compact at now (the caller proposes it and reports with
   * `done`), or undefined. `isLeader` false pauses compaction (samples continue).
   */
  tick(nowMs: number, currentRevision: number, isLeader: boolean): number | undefined {
    if (this.inFlight !== undefined || nowMs < this.nextWakeMs) return undefined
    const rev = isLeader ? this.due(nowMs, currentRevision) : undefined
    if (rev !== undefined) {
      this.inFlight = rev
      return rev
    }
    this.sleep(nowMs, currentRevision)
    return undefined
  }

  /** The compaction asked for ended (ok: applied, or the revision was already compacted). */
  done(nowMs: number, ok: boolean, currentRevision: number): void {
    if (this.inFlight === undefined) return
    if (ok) {
      this.lastSuccessMs = nowMs
      this.prevRevision = this.inFlight
    }
    this.inFlight = undefined
    this.sleep(nowMs, currentRevision)
  }

  private due(nowMs: number, currentRevision: number): number | undefined {
    if (this.policy.mode === 'revision') {
      const rev = currentRevision - this.policy.retention
      return rev <= 0 || rev === this.prevRevision ? undefined : rev
    }
    if (nowMs - this.lastSuccessMs < this.baseIntervalMs) return undefined
    // The first compaction waits a whole period; later ones come every min(period, 1 h).
    if (this.baseIntervalMs === this.policy.periodMs) {
      this.baseIntervalMs = Math.min(this.policy.periodMs, HOUR_MS)
    }
    return this.revs[0]
  }

  /** The loop's next round: sample the revision (periodic) and wait one interval. */
  private sleep(nowMs: number, currentRevision: number): void {
    if (this.policy.mode === 'periodic') {
      this.revs.push(currentRevision)
      if (this.revs.length > this.retentions()) this.revs.shift()
    }
    this.nextWakeMs = nowMs + this.wakeIntervalMs()
  }
}
