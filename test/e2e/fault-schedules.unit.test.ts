// The fault schedules and the entry-point choice replay from a seed: with the runtime's answers
// held fixed (who leads), the same seed gives the same faults, parameters and pauses.
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/raft/rng.ts'
import { ALL_SCHEDULES, type FaultContext, type Schedule } from './fault-schedules.ts'
import type { Transport } from './history.ts'
import { memberTransport } from './member-transport.ts'
import { prefixRangeEnd } from './resuming-watcher.ts'

/** What a schedule did over `episodes` episodes, with a fixed leader and instant sleeps. */
async function actions(schedule: Schedule, seed: number, episodes = 6): Promise<string[]> {
  const log: string[] = []
  const ctx: FaultContext = {
    rng: createRng(seed),
    members: ['m1', 'm2', 'm3'],
    fault: async (m, name, value) => void log.push(`${name} ${m} ${value ?? ''}`),
    leader: async () => 'm2',
    killRuntime: async () => void log.push('kill'),
    cutWatcher: () => void log.push('cut'),
    sleep: async (ms) => void log.push(`sleep ${ms}`),
  }
  for (let i = 0; i < episodes; i++) await schedule.episode(ctx)
  return log
}

describe('fault schedules', () => {
  it.each(ALL_SCHEDULES.map((s) => [s.name, s] as const))(
    '%s replays from its seed and injects something',
    async (_name, schedule) => {
      const a = await actions(schedule, 42)
      expect(await actions(schedule, 42)).toEqual(a)
      expect(a.some((line) => !line.startsWith('sleep') && !line.startsWith('heal'))).toBe(true)
    },
  )

  it('partition schedules never isolate the leader when they ask for a follower', async () => {
    const follower = ALL_SCHEDULES.find((s) => s.name === 'follower-partition')!
    const log = await actions(follower, 7, 50)
    expect(log.filter((l) => l.startsWith('isolate')).every((l) => !l.includes('m2'))).toBe(true)
    const leader = ALL_SCHEDULES.find((s) => s.name === 'leader-partition')!
    expect((await actions(leader, 7, 5)).filter((l) => l.startsWith('isolate'))).toEqual(
      Array(5).fill('isolate m2 '),
    )
  })
})

describe('memberTransport', () => {
  it('sends each op to a seeded entry point, the same for the same seed', async () => {
    const entries = async (seed: number) => {
      const paths: string[] = []
      const original = globalThis.fetch
      globalThis.fetch = (async (url: string) => {
        paths.push(String(url))
        return new Response('{}', { status: 200 })
      }) as typeof fetch
      try {
        const t: Transport = memberTransport('http://x', seed, ['front', 'm1', 'm2', 'm3'])
        for (let i = 0; i < 40; i++)
          await t.post(i % 8, '/v3/kv/range', {}, new AbortController().signal)
      } finally {
        globalThis.fetch = original
      }
      return paths
    }
    const a = await entries(5)
    expect(await entries(5)).toEqual(a)
    expect(new Set(a).size).toBe(4)
    expect(a).toContain('http://x/_dev/members/m3/v3/kv/range')
    expect(a).toContain('http://x/v3/kv/range')
  })
})

describe('prefixRangeEnd', () => {
  it.each([
    ['a/', 'a0'],
    ['/jepsen/x/', '/jepsen/x0'],
  ])('%s → %s', (prefix, end) => {
    expect(Buffer.from(prefixRangeEnd(prefix), 'base64').toString()).toBe(end)
  })
})
