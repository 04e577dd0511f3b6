// Which member serves a request, and failover between members (like etcd's gateway): writes and
// linearizable reads go to the leader (a hint cached per isolate), serializable reads to any
// member; when a member throws, times out or has no leader, the next one is tried until the
// request's deadline.
import { EtcdErrors, type EtcdError } from '../api/errors.ts'
import type { MemberHandle } from './members.ts'

/** The leader's name, last seen, per cluster; shared by every request in this isolate. */
const leaderHints = new Map<string, string>()

/** A member's answer that says "try another member" (no leader, stopped, not reachable). */
export class RetryableError extends Error {}

/** How long to pause between two passes over all members (elections take ~1 s). */
const PASS_BACKOFF_MS = [25, 50, 100, 200, 400]

/** The order in which to try members: leader hint first, then the rest in config order. */
export function memberOrder(
  members: MemberHandle[],
  prefer: 'leader' | 'any',
  leaderHint: string | undefined,
  start: number,
): MemberHandle[] {
  const rotated = members.map((_, i) => members[(i + start) % members.length]!)
  if (prefer !== 'leader' || leaderHint === undefined) return rotated
  const leader = rotated.find((m) => m.spec.name === leaderHint)
  return leader ? [leader, ...rotated.filter((m) => m !== leader)] : rotated
}

let roundRobin = 0

/**
 * Calls `fn` on members until one answers without a RetryableError or thrown error, or the
 * deadline passes (then the last error is thrown). `fn` may report the leader it learned.
 */
export async function callWithFailover<T>(
  cluster: string,
  members: MemberHandle[],
  prefer: 'leader' | 'any',
  deadlineMs: number,
  fn: (member: MemberHandle, learnLeader: (name: string | undefined) => void) => Promise<T>,
): Promise<T> {
  const started = Date.now()
  // Made only when needed: an Error captures a stack, which costs on every request.
  let lastError: unknown
  for (let pass = 0; ; pass++) {
    const order = memberOrder(members, prefer, leaderHints.get(cluster), roundRobin++)
    for (const member of order) {
      try {
        return await fn(member, (name) => {
          if (name) leaderHints.set(cluster, name)
          else leaderHints.delete(cluster)
        })
      } catch (e) {
        lastError = e
        if (leaderHints.get(cluster) === member.spec.name) leaderHints.delete(cluster)
      }
      if (Date.now() - started > deadlineMs) throw lastError ?? new RetryableError('no members')
    }
    const pause = PASS_BACKOFF_MS[Math.min(pass, PASS_BACKOFF_MS.length - 1)]!
    if (Date.now() - started + pause > deadlineMs) {
      throw lastError ?? new RetryableError('no members')
    }
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
}

/** The etcd error for a request that no member could serve before its deadline. */
export function unavailable(e: unknown): EtcdError {
  if (e instanceof RetryableError && e.message in EtcdErrors) {
    return EtcdErrors[e.message as keyof typeof EtcdErrors]
  }
  return EtcdErrors.NoLeader
}
