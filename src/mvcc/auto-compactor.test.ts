import { describe, expect, it } from 'vitest'
import {
  AutoCompactor,
  autoCompactionPolicy,
  parseGoDurationMs,
  REVISION_INTERVAL_MS,
} from './auto-compactor.ts'

const HOUR = 3_600_000

describe('AUTO_COMPACTION_RETENTION as etcd 3.4 parses it', () => {
  it.each([
    ['periodic', '0', null],
    ['periodic', '1', { mode: 'periodic', periodMs: HOUR }],
    ['periodic', '30m', { mode: 'periodic', periodMs: 30 * 60_000 }],
    ['periodic', '1h30m', { mode: 'periodic', periodMs: 1.5 * HOUR }],
    ['periodic', '2s', { mode: 'periodic', periodMs: 2000 }],
    ['revision', '1000', { mode: 'revision', retention: 1000 }],
    ['revision', '0', null],
    // etcd reads a duration in revision mode as nanoseconds-many revisions.
    ['revision', '1us', { mode: 'revision', retention: 1000 }],
  ] as const)('%s %s', (mode, retention, policy) => {
    expect(autoCompactionPolicy(mode, retention)).toEqual(policy)
  })

  it('refuses what Go refuses', () => {
    expect(() => autoCompactionPolicy('periodic', '1 hour')).toThrow(/CompactionRetention/)
    expect(() => parseGoDurationMs('5')).toThrow()
    expect(parseGoDurationMs('1.5h')).toBe(1.5 * HOUR)
    expect(parseGoDurationMs('300ms')).toBe(300)
  })
})

/** Drives a compactor with a fake clock: every `stepMs`, a revision that grows by one per step. */
function drive(
  compactor: AutoCompactor,
  untilMs: number,
  stepMs: number,
  isLeader: (nowMs: number) => boolean = () => true,
): { atMs: number; rev: number }[] {
  const compactions: { atMs: number; rev: number }[] = []
  for (let now = stepMs; now <= untilMs; now += stepMs) {
    const current = 1 + now / stepMs
    const rev = compactor.tick(now, current, isLeader(now))
    if (rev !== undefined) {
      compactions.push({ atMs: now, rev })
      compactor.done(now, true, current)
    }
  }
  return compactions
}

describe('periodic compaction', () => {
  it('first compacts after one period at the revision of one period ago, then every period', () => {
    // Period 10 s: samples every 1 s, 11 kept; the revision grows by one per second.
    const c = new AutoCompactor({ mode: 'periodic', periodMs: 10_000 }, 0, 1)
    const got = drive(c, 35_000, 1000)
    expect(got.map((g) => g.atMs)).toEqual([10_000, 20_000, 30_000])
    // At 10 s the oldest sample is the one taken at 0 s (revision 1). Later, 11 samples are kept
    // and the newest was taken one interval before the wake, so the oldest is from 11 s ago
    // (etcd: "revs[0] is always the rev at pc.period ago", give or take one interval).
    expect(got[0]!.rev).toBe(1)
    expect(got[1]!.rev).toBe(1 + (got[1]!.atMs / 1000 - 11))
  })

  it('compacts every hour (not every period) when the period is longer than an hour', () => {
    const c = new AutoCompactor({ mode: 'periodic', periodMs: 3 * HOUR }, 0, 1)
    const got = drive(c, 6 * HOUR, 60_000)
    expect(got.map((g) => g.atMs / HOUR)).toEqual([3, 4, 5, 6])
  })

  it('only the leader compacts; a follower keeps sampling and compacts at once when it leads', () => {
    const c = new AutoCompactor({ mode: 'periodic', periodMs: 10_000 }, 0, 1)
    const got = drive(c, 25_000, 1000, (now) => now >= 15_000)
    expect(got[0]).toEqual({ atMs: 15_000, rev: 1 + (15 - 11) })
  })
})

describe('revision compaction', () => {
  it('every 5 minutes compacts at current − retention, skipping a revision it already compacted', () => {
    const c = new AutoCompactor({ mode: 'revision', retention: 100 }, 0, 1)
    let rev = 50
    expect(c.tick(REVISION_INTERVAL_MS - 1, rev, true)).toBeUndefined()
    expect(c.tick(REVISION_INTERVAL_MS, rev, true)).toBeUndefined() // 50 − 100 <= 0
    rev = 1000
    expect(c.tick(REVISION_INTERVAL_MS + 1000, rev, true)).toBeUndefined() // asleep until 10 min
    expect(c.tick(2 * REVISION_INTERVAL_MS, rev, true)).toBe(900)
    c.done(2 * REVISION_INTERVAL_MS, true, rev)
    expect(c.tick(3 * REVISION_INTERVAL_MS, rev, true)).toBeUndefined() // 900 again: skipped
    expect(c.tick(4 * REVISION_INTERVAL_MS, rev + 5, true)).toBe(905)
  })

  it('retries a failed compaction on its next wake', () => {
    const c = new AutoCompactor({ mode: 'revision', retention: 10 }, 0, 1)
    expect(c.tick(REVISION_INTERVAL_MS, 100, true)).toBe(90)
    expect(c.tick(REVISION_INTERVAL_MS + 1, 100, true)).toBeUndefined() // one at a time
    c.done(REVISION_INTERVAL_MS + 2, false, 100)
    expect(c.tick(2 * REVISION_INTERVAL_MS + 2, 100, true)).toBe(90)
  })
})
