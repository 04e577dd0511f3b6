// Safety checkers for the simulator. They look only at what a node hands to its shell (Ready)
// and at its persisted storage, never at raft internals, and they record the first violation.
//
// - Election safety: at most one leader per term.
// - Log matching: two persisted entries with the same index and term carry the same payload
//   and follow the same previous term (by induction: the logs agree up to that index).
// - Leader completeness: a leader's log holds every entry committed before it was elected,
//   and every entry committed later in an earlier term.
// - State machine safety: no two nodes commit or apply different entries at the same index;
//   each node applies indexes in order; snapshots agree with the applied state they replace.
// - Linearizable reads: a ReadIndex answer is never below a commit index observed anywhere
//   before the read began.

import type { Entry } from '../../src/raft/index.ts'

/** A detected safety violation. */
export class Violation extends Error {
  readonly kind: string

  constructor(kind: string, detail: string) {
    super(`${kind}: ${detail}`)
    this.name = 'Violation'
    this.kind = kind
  }
}

interface LogFact {
  type: string
  data: string
  prevTerm: number
}

/** A view of one node's persisted log. */
export interface LogView {
  firstIndex(): number
  lastIndex(): number
  /** Term at i for i in [firstIndex-1, lastIndex]. */
  term(i: number): number
  entry(i: number): Entry
}

interface Committed {
  term: number
  type: string
  data: string
  commitTermUB: number
}

/** Accumulates facts across the whole run and throws a Violation on the first inconsistency. */
export class Checker {
  private readonly leaders = new Map<number, string>()
  private readonly logFacts = new Map<string, LogFact>()
  /**
   * index → the committed entry at that index, and an upper bound on the term in which it was
   * committed: the smallest current term of any node that reported it committed (a node learns
   * a commit from a leader of its own term or earlier).
   */
  private readonly committed = new Map<number, Committed>()
  /** index → state-machine hash after applying that index. */
  private readonly appliedHash = new Map<number, number>()
  /** Currently known leaders, for incremental leader-completeness checks. */
  private readonly currentLeaders = new Map<string, { term: number; log: () => LogView }>()
  /** The largest commit index any node has reported. */
  maxCommitted = 0
  private readonly reads = new Map<string, number>()
  checks = 0
  readsServed = 0

  /** How many distinct terms had a leader. */
  leaderTerms(): number {
    return this.leaders.size
  }

  private fail(kind: string, detail: string): never {
    throw new Violation(kind, detail)
  }

  /** A node reports it is leader of `term` (seen in Ready.softState). */
  onLeader(id: string, term: number, log: () => LogView): void {
    this.checks++
    const prev = this.leaders.get(term)
    if (prev !== undefined && prev !== id) {
      this.fail('election safety', `two leaders in term ${term}: ${prev} and ${id}`)
    }
    this.leaders.set(term, id)
    this.currentLeaders.set(id, { term, log })
    // Leader completeness: everything committed so far must be in the new leader's log.
    const view = log()
    for (const [index, c] of this.committed) this.checkLeaderHas(id, term, view, index, c)
  }

  /** A node reports it is no longer leader. */
  onNotLeader(id: string): void {
    this.currentLeaders.delete(id)
  }

  private checkLeaderHas(
    id: string,
    term: number,
    view: LogView,
    index: number,
    c: Committed,
  ): void {
    // Leader completeness (paper §5.4): a leader holds every entry committed in an earlier
    // term. An entry of an old term may be committed later (by a newer leader), so what counts
    // is when it was committed, not its own term.
    if (c.commitTermUB >= term) return
    if (index < view.firstIndex()) return // compacted into the leader's snapshot
    if (index > view.lastIndex()) {
      this.fail(
        'leader completeness',
        `leader ${id} (term ${term}) lacks committed index ${index} (last ${view.lastIndex()})`,
      )
    }
    const t = view.term(index)
    if (t !== c.term) {
      this.fail(
        'leader completeness',
        `leader ${id} (term ${term}) has term ${t} at committed index ${index}, committed term ${c.term}`,
      )
    }
  }

  /**
   * A node is about to persist `ents`; `termBefore(i)` answers the term at i in its storage
   * before the append (undefined when compacted). Checks log matching.
   */
  onPersistEntries(id: string, ents: Entry[], termBefore: (i: number) => number | undefined): void {
    for (let k = 0; k < ents.length; k++) {
      this.checks++
      const e = ents[k]!
      const prevTerm = k > 0 ? ents[k - 1]!.term : termBefore(e.index - 1)
      const key = `${e.index}:${e.term}`
      const fact = this.logFacts.get(key)
      if (fact === undefined) {
        this.logFacts.set(key, { type: e.type, data: e.data, prevTerm: prevTerm ?? -1 })
        continue
      }
      if (fact.data !== e.data || fact.type !== e.type) {
        this.fail(
          'log matching',
          `${id} persists index ${e.index} term ${e.term} with different payload`,
        )
      }
      if (prevTerm !== undefined && fact.prevTerm !== -1 && fact.prevTerm !== prevTerm) {
        this.fail(
          'log matching',
          `${id}: entry ${e.index}/${e.term} follows term ${prevTerm}, elsewhere ${fact.prevTerm}`,
        )
      }
      if (fact.prevTerm === -1 && prevTerm !== undefined) fact.prevTerm = prevTerm
    }
  }

  /** A node at `nodeTerm` reports commit index `commit`; `log` is its persisted log. */
  onCommit(
    id: string,
    fromExclusive: number,
    commit: number,
    log: LogView,
    nodeTerm: number,
  ): void {
    if (commit > this.maxCommitted) this.maxCommitted = commit
    const lo = Math.max(fromExclusive + 1, log.firstIndex())
    if (commit > log.lastIndex()) {
      this.fail(
        'commit',
        `${id} commit ${commit} beyond its persisted last index ${log.lastIndex()}`,
      )
    }
    for (let i = lo; i <= commit; i++) {
      this.checks++
      const e = log.entry(i)
      const c = this.committed.get(i)
      if (
        c === undefined ||
        (c.commitTermUB > nodeTerm && c.term === e.term && c.data === e.data)
      ) {
        const rec = { term: e.term, type: e.type, data: e.data, commitTermUB: nodeTerm }
        this.committed.set(i, rec)
        for (const [lid, l] of this.currentLeaders) {
          this.checkLeaderHas(lid, l.term, l.log(), i, rec)
        }
      } else if (c.term !== e.term || c.data !== e.data || c.type !== e.type) {
        this.fail(
          'state machine safety',
          `${id} commits ${e.term}/${i} ${JSON.stringify(e.data)}, but ${c.term}/${i} ${JSON.stringify(c.data)} was committed`,
        )
      }
    }
  }

  /** A node applied entry `e`, its state-machine hash is now `hash`. */
  onApply(id: string, prevApplied: number, e: Entry, hash: number): void {
    this.checks++
    if (e.index !== prevApplied + 1) {
      this.fail('apply order', `${id} applies index ${e.index} after ${prevApplied}`)
    }
    const c = this.committed.get(e.index)
    if (c !== undefined && (c.term !== e.term || c.data !== e.data)) {
      this.fail(
        'state machine safety',
        `${id} applies ${e.term}/${e.index} but ${c.term}/${e.index} was committed`,
      )
    }
    if (c === undefined) {
      // Applied without a reported commit (cannot happen in the simulator): no bound on its term.
      const rec = { term: e.term, type: e.type, data: e.data, commitTermUB: Infinity }
      this.committed.set(e.index, rec)
    }
    const h = this.appliedHash.get(e.index)
    if (h === undefined) this.appliedHash.set(e.index, hash)
    else if (h !== hash)
      this.fail(
        'state machine safety',
        `${id} state after index ${e.index} differs from another node's`,
      )
  }

  /** A node installed a snapshot of state `hash` at `index`. */
  onSnapshotInstall(id: string, index: number, hash: number): void {
    this.checks++
    const h = this.appliedHash.get(index)
    if (h !== undefined && h !== hash) {
      this.fail(
        'snapshot',
        `${id} installs a snapshot at ${index} whose state differs from applied state`,
      )
    }
  }

  /** A client starts a read with `ctx`. */
  onReadStart(ctx: string): void {
    this.reads.set(ctx, this.maxCommitted)
  }

  /** A node answered the read `ctx` with read index `index`. */
  onReadState(id: string, ctx: string, index: number): void {
    this.checks++
    const floor = this.reads.get(ctx)
    if (floor === undefined) this.fail('read', `${id} answered unknown read ${ctx}`)
    this.readsServed++
    if (index < floor) {
      this.fail(
        'linearizable read',
        `${id} read ${ctx} at index ${index}, but ${floor} was committed before the read began`,
      )
    }
  }

  /** The committed entry at `index`, if known (used by liveness checks). */
  committedAt(index: number): { term: number; data: string } | undefined {
    return this.committed.get(index)
  }
}

/** FNV-1a style fold of an applied entry into a 32-bit state hash. */
export function foldHash(h: number, e: Entry): number {
  const s = `${e.index}:${e.term}:${e.type}:${e.data}`
  let x = h >>> 0 || 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i)
    x = Math.imul(x, 0x01000193) >>> 0
  }
  return x
}
