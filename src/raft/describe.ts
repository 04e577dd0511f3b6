// One-line human-readable renderings of raft values, for tests, logs and simulator traces
// (in the spirit of etcd's DescribeMessage / DescribeReady).

import type { Message } from './messages.ts'
import type { Entry, HardState, Ready, Snapshot } from './types.ts'

const MAX_DATA = 24

function short(data: string): string {
  const q = JSON.stringify(data.length > MAX_DATA ? `${data.slice(0, MAX_DATA)}…` : data)
  return q
}

/** `3/7 EntryNormal "put a"` — term/index, type, data (truncated). */
export function describeEntry(e: Entry): string {
  const kind = e.type === 'confChange' ? 'EntryConfChange' : 'EntryNormal'
  return `${e.term}/${e.index} ${kind}${e.data === '' ? '' : ` ${short(e.data)}`}`
}

/** `[1/1 EntryNormal, 1/2 EntryNormal "x"]` */
export function describeEntries(ents: Entry[]): string {
  return `[${ents.map(describeEntry).join(', ')}]`
}

/** `Term:3 Vote:b Commit:7` */
export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hs.vote === '' ? '-' : hs.vote} Commit:${hs.commit}`
}

/** `snapshot index=10 term=2 voters=[a,b,c] learners=[]` */
export function describeSnapshot(s: Snapshot): string {
  const cs = s.metadata.confState
  return `snapshot index=${s.metadata.index} term=${s.metadata.term} voters=[${cs.voters.join(',')}] learners=[${cs.learners.join(',')}]`
}

/** `a->b MsgApp Term:2 Log:1/5 Commit:4 Entries:[2/6 EntryNormal "x"]` */
export function describeMessage(m: Message): string {
  let s = `${m.from === '' ? '-' : m.from}->${m.to === '' ? '-' : m.to} ${m.type} Term:${m.term}`
  s += ` Log:${m.logTerm}/${m.index}`
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`
  if (m.commit !== 0) s += ` Commit:${m.commit}`
  if (m.entries.length > 0) s += ` Entries:${describeEntries(m.entries)}`
  if (m.snapshot) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`
  if (m.context !== undefined && m.context !== '') s += ` Ctx:${short(m.context)}`
  return s
}

/** Every non-empty part of a Ready on one line, e.g. `HardState Term:2 … | Entries:[…] | Messages:[…]`. */
export function describeReady(rd: Ready): string {
  const parts: string[] = []
  if (rd.softState)
    parts.push(
      `Lead:${rd.softState.lead === '' ? '-' : rd.softState.lead} State:${rd.softState.state}`,
    )
  if (rd.hardState) parts.push(`HardState ${describeHardState(rd.hardState)}`)
  if (rd.readStates.length > 0) {
    parts.push(`ReadStates:[${rd.readStates.map((r) => `${r.index}:${short(r.ctx)}`).join(', ')}]`)
  }
  if (rd.entries.length > 0) parts.push(`Entries:${describeEntries(rd.entries)}`)
  if (rd.snapshot) parts.push(describeSnapshot(rd.snapshot))
  if (rd.committedEntries.length > 0)
    parts.push(`CommittedEntries:${describeEntries(rd.committedEntries)}`)
  if (rd.messages.length > 0)
    parts.push(`Messages:[${rd.messages.map(describeMessage).join('; ')}]`)
  if (rd.mustSync) parts.push('MustSync')
  return parts.length === 0 ? '<empty Ready>' : parts.join(' | ')
}
