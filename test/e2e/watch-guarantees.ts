// etcd's watch guarantees (api_guarantees.md), checked over what a client received: ordered,
// unique, reliable (no gaps), atomic (a revision's events in one response), resumable (a
// reconnecting client gets exactly what it missed), and the per-event facts: prev_kv is the
// key's previous value, a PUT with version 1 is a creation.
import type { WatchResult } from '../support/watch-client.ts'

type Event = NonNullable<WatchResult['events']>[number]

/** One response as received, tagged with the connection it came on. */
export interface Received {
  connection: number
  result: WatchResult
}

/** The events of a stream, flattened, each with its response index. */
function eventsOf(received: Received[]): { e: Event; response: number; rev: number }[] {
  return received.flatMap((r, response) =>
    (r.result.events ?? []).map((e) => ({ e, response, rev: Number(e.kv.mod_revision) })),
  )
}

const id = (rev: number, key: string) => `${rev}/${key}`

/**
 * Checks a resumed stream against the truth (a replay of the same range from the first revision,
 * taken after the run). Returns every violation found (empty = all guarantees hold).
 */
export function checkWatchGuarantees(received: Received[], truth: Event[]): string[] {
  const violations: string[] = []
  const got = eventsOf(received)

  // Ordered and unique: (revision, position) strictly increasing, no event twice.
  const seen = new Set<string>()
  for (let i = 0; i < got.length; i++) {
    const { e, rev } = got[i]!
    const k = id(rev, e.kv.key)
    if (seen.has(k)) violations.push(`duplicate event ${k}`)
    seen.add(k)
    if (i > 0 && rev < got[i - 1]!.rev)
      violations.push(`out of order: ${rev} after ${got[i - 1]!.rev}`)
  }

  // Atomic: all events of a revision arrive in one response.
  const responseOfRev = new Map<number, number>()
  for (const { rev, response } of got) {
    const first = responseOfRev.get(rev)
    if (first === undefined) responseOfRev.set(rev, response)
    else if (first !== response) violations.push(`revision ${rev} split across responses`)
  }

  // Reliable and resumable: exactly the truth, no gap, nothing extra.
  const want = truth.map((e) => id(Number(e.kv.mod_revision), e.kv.key))
  const have = got.map(({ e, rev }) => id(rev, e.kv.key))
  const wanted = new Set(want)
  const missing = want.filter((k) => !seen.has(k))
  const extra = have.filter((k) => !wanted.has(k))
  if (missing.length > 0)
    violations.push(`missing ${missing.length} events: ${missing.slice(0, 5).join(', ')}`)
  if (extra.length > 0) violations.push(`events not in the log: ${extra.slice(0, 5).join(', ')}`)

  // Each event agrees with the truth (value, version, prev_kv) and with the key's own past.
  const truthById = new Map(truth.map((e) => [id(Number(e.kv.mod_revision), e.kv.key), e]))
  const lastValue = new Map<string, string | undefined>()
  for (const { e, rev } of got) {
    const t = truthById.get(id(rev, e.kv.key))
    if (t && JSON.stringify(t) !== JSON.stringify(e)) {
      violations.push(
        `event ${id(rev, e.kv.key)} differs: got ${JSON.stringify(e)} want ${JSON.stringify(t)}`,
      )
    }
    const before = lastValue.get(e.kv.key)
    const known = lastValue.has(e.kv.key)
    if (e.type === 'DELETE') {
      if (known && e.prev_kv?.value !== before)
        violations.push(`delete ${rev}: prev_kv is not the last value`)
      lastValue.set(e.kv.key, undefined)
    } else {
      const creation = e.kv.version === '1'
      if (known && creation !== (before === undefined)) {
        violations.push(
          `put ${rev} on ${e.kv.key}: version ${e.kv.version} but key ${before === undefined ? 'did not exist' : 'existed'}`,
        )
      }
      if (known && before !== undefined && (e.prev_kv?.value ?? '') !== before) {
        violations.push(`put ${rev}: prev_kv is not the previous value`)
      }
      if (creation && e.prev_kv) violations.push(`put ${rev}: a creation has a prev_kv`)
      lastValue.set(e.kv.key, e.kv.value ?? '')
    }
  }
  return violations
}
