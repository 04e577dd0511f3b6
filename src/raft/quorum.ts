// Majority quorum arithmetic (etcd quorum/majority.go), over plain sets of voter ids.

import type { NodeId } from './types.ts'

/** The result of counting votes. */
export type VoteResult = 'pending' | 'lost' | 'won'

/**
 * The largest index acknowledged by a majority of `voters`, given each voter's acknowledged
 * index (missing = 0). An empty configuration commits everything (Infinity), as in etcd, so a
 * joint/empty config never blocks.
 *
 *   voters {a,b,c}, acked a=7 b=5 c=3  → sorted desc [7,5,3] → majority (2) → 5
 */
export function committedIndex(
  voters: readonly NodeId[],
  acked: (id: NodeId) => number | undefined,
): number {
  const n = voters.length
  if (n === 0) return Number.MAX_SAFE_INTEGER
  const idx = voters.map((id) => acked(id) ?? 0).sort((a, b) => b - a)
  // The (n/2+1)-th largest value is held by a majority.
  return idx[Math.floor(n / 2)]!
}

/**
 * Whether `votes` (true = granted, false = rejected, missing = not yet answered) wins, loses or
 * is still pending among `voters`. An empty configuration wins.
 */
export function voteResult(
  voters: readonly NodeId[],
  votes: (id: NodeId) => boolean | undefined,
): VoteResult {
  if (voters.length === 0) return 'won'
  let granted = 0
  let missing = 0
  for (const id of voters) {
    const v = votes(id)
    if (v === undefined) missing++
    else if (v) granted++
  }
  const q = Math.floor(voters.length / 2) + 1
  if (granted >= q) return 'won'
  if (granted + missing >= q) return 'pending'
  return 'lost'
}

/** The size of a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1
}
