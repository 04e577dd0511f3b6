// The watch-guarantee checker must fail on each kind of broken stream.
import { describe, expect, it } from 'vitest'
import type { WatchResult } from '../support/watch-client.ts'
import { checkWatchGuarantees, type Received } from './watch-guarantees.ts'

type Event = NonNullable<WatchResult['events']>[number]
const b64 = (s: string) => Buffer.from(s).toString('base64')

function put(rev: number, key: string, value: string, version: number, prev?: string): Event {
  const e: Event = {
    kv: {
      key: b64(key),
      create_revision: '2',
      mod_revision: String(rev),
      version: String(version),
      value: b64(value),
    },
  }
  if (prev !== undefined) e.prev_kv = { value: b64(prev) }
  return e
}

// rev 2: put a=1 (create); rev 3: txn a=2, b=1; rev 4: delete a
const truth: Event[] = [
  put(2, 'a', '1', 1),
  put(3, 'a', '2', 2, '1'),
  put(3, 'b', '1', 1),
  { type: 'DELETE', kv: { key: b64('a'), mod_revision: '4' }, prev_kv: { value: b64('2') } },
]
const stream = (...groups: Event[][]): Received[] =>
  groups.map((events, i) => ({ connection: i < 1 ? 1 : 2, result: { header: {}, events } }))

describe('checkWatchGuarantees', () => {
  it('accepts the truth, resumed over two connections', () => {
    expect(
      checkWatchGuarantees(stream([truth[0]!], [truth[1]!, truth[2]!], [truth[3]!]), truth),
    ).toEqual([])
  })

  it.each([
    ['a gap', stream([truth[0]!], [truth[3]!]), /missing/],
    [
      'a duplicate after resuming',
      stream([truth[0]!, truth[1]!, truth[2]!], [truth[1]!, truth[2]!, truth[3]!]),
      /duplicate/,
    ],
    [
      'events out of order',
      stream([truth[1]!, truth[2]!], [truth[0]!], [truth[3]!]),
      /out of order/,
    ],
    [
      'a revision split across responses',
      stream([truth[0]!, truth[1]!], [truth[2]!, truth[3]!]),
      /split/,
    ],
    [
      'a wrong prev_kv',
      stream([truth[0]!], [put(3, 'a', '2', 2, 'x'), truth[2]!], [truth[3]!]),
      /prev_kv|differs/,
    ],
    [
      'a creation flag on an existing key',
      stream([truth[0]!], [put(3, 'a', '2', 1), truth[2]!], [truth[3]!]),
      /version|differs/,
    ],
    ['an event that is not in the log', stream([truth[0]!, put(5, 'z', 'q', 1)]), /not in the log/],
  ])('reports %s', (_name, received, violation) => {
    const violations = checkWatchGuarantees(received, truth)
    expect(violations.join('\n')).toMatch(violation)
  })
})
