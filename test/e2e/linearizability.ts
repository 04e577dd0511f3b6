// The linearizability checker for histories recorded by test/e2e/history.ts.
//
// Model: each key is a register (value, or null when absent) with get, put and compare-and-set.
// Linearizability is local (Herlihy & Wing 1990, "P-compositionality" in porcupine), so each key
// is checked on its own: a history is linearizable iff every key's sub-history is.
//
// Search: Wing & Gong's algorithm with Lowe's memoization, as porcupine implements it. Calls and
// returns are laid out in time order in a linked list; the search repeatedly picks a call whose
// op the model accepts in the current state, removes ("lifts") that op, and starts again from the
// front. Reaching a return means the op that returned there was not linearized before it: undo
// the last choice. A (set of linearized ops, state) pair seen before is never explored twice.
//
// UNKNOWN ops (timeouts, 5xx) may take effect at any time after their invocation, or never. They
// get return time +Infinity and the model accepts them in any state without checking an output.
// Linearizing one after every other op has no visible effect, which is the same as "never", so
// the search is done as soon as every op with a known outcome is linearized. An UNKNOWN get has
// no effect and is dropped; so is a definitely-failed op. An UNKNOWN write nobody observed is
// dropped too, and one somebody observed must precede its first observer's return, which becomes
// its return time (boundUnknownWrites): without that, histories with many timeouts blow up.
//
// CAS on MOD revision: a client compares the revision R it saw together with value v. Every write
// gets its own revision, so "mod_revision == R" holds exactly when the current value is v (R = 0:
// the key is absent) and the model compares values. That rests on revisions being one-to-one with
// writes, which checkRevisionConsistency verifies for every (value, revision) pair observed.
//
// Besides linearizability: header.revision never goes backwards in real time (if A completed
// before B was invoked, B.revision >= A.revision), and a read never sees a revision above its
// header's.
import type { History, Operation } from './history.ts'

/** A register's state: the value (a write's unique value) or null when the key is absent. */
export type RegisterState = string | null

/** Why a history is not acceptable. */
export interface Violation {
  kind: 'linearizability' | 'revision-order' | 'revision-consistency' | 'value-never-written'
  key?: string
  message: string
  /** The ops involved (a shrunk witness for linearizability). */
  ops: Operation[]
}

/** The checker's answer. */
export interface CheckReport {
  /** ok: no violation and every key decided; unknown: a key ran out of budget. */
  verdict: 'ok' | 'violation' | 'unknown'
  violations: Violation[]
  /** Keys whose search ran out of budget. */
  undecidedKeys: string[]
  stats: { ops: number; keys: number; steps: number; elapsedMs: number }
}

/** Limits that make the checker answer "unknown" instead of hanging. */
export interface CheckBudget {
  /** Search steps per key. */
  stepsMax: number
  /** Wall time for the whole check, including shrinking. */
  timeMs: number
}

const DEFAULT_BUDGET: CheckBudget = { stepsMax: 5_000_000, timeMs: 20_000 }

/** One step of the register model: whether `op` may happen in `state`, and the state after. */
export function stepModel(state: RegisterState, op: Operation): [boolean, RegisterState] {
  const input = op.input
  const out = op.output
  if (op.outcome === 'unknown' || !out) {
    // No output to check: a write simply happens.
    if (input.kind === 'put') return [true, input.value]
    if (input.kind === 'cas') return [true, state === input.expected ? input.value : state]
    return [true, state]
  }
  switch (input.kind) {
    case 'get':
      return [out.kind === 'get' && out.value === state, state]
    case 'put':
      return [true, input.value]
    case 'cas': {
      if (out.kind !== 'cas') return [false, state]
      const matches = state === input.expected
      if (matches) return [out.succeeded, input.value]
      return [!out.succeeded && out.current === state, state]
    }
  }
}

/** A call or return in the search's linked list. */
interface Entry {
  isCall: boolean
  op: number
  time: number
  /** For a call: its return. */
  match: Entry | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

/** Builds the time-ordered call/return list; ties put calls first (overlap = concurrent). */
function buildEntries(ops: Operation[]): Entry {
  const entries: Entry[] = []
  ops.forEach((op, i) => {
    const ret: Entry = {
      isCall: false,
      op: i,
      time: op.returnMs,
      match: undefined,
      prev: undefined,
      next: undefined,
    }
    const call: Entry = {
      isCall: true,
      op: i,
      time: op.callMs,
      match: ret,
      prev: undefined,
      next: undefined,
    }
    entries.push(call, ret)
  })
  entries.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op)
  const head: Entry = {
    isCall: false,
    op: -1,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
  }
  let last = head
  for (const e of entries) {
    last.next = e
    e.prev = last
    last = e
  }
  return head
}

/** Removes a call and its return from the list. */
function lift(call: Entry): void {
  call.prev!.next = call.next
  call.next!.prev = call.prev
  const ret = call.match!
  ret.prev!.next = ret.next
  if (ret.next) ret.next.prev = ret.prev
}

/** Puts back what lift removed (in reverse order). */
function unlift(call: Entry): void {
  const ret = call.match!
  ret.prev!.next = ret
  if (ret.next) ret.next.prev = ret
  call.prev!.next = call
  call.next!.prev = call
}

/**
 * The set of linearized ops (indices in invocation order) as a bitset with a compact key. The
 * search linearizes ops roughly in invocation order, so the set is nearly always "every op
 * below word lo, a few in the words lo..hi, none above hi"; its key is lo plus those few words,
 * so building it costs the width of the concurrency window, not the length of the history.
 */
class OpSet {
  private readonly words: Uint32Array
  /** Invariant: every word below lo is full. */
  private lo = 0
  /** Invariant: every word above hi is empty. */
  private hi = -1

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) + 1)
  }

  add(i: number): void {
    const w = i >>> 5
    this.words[w]! |= 1 << (i & 31)
    while (this.words[this.lo] === 0xffffffff) this.lo++
    if (w > this.hi) this.hi = w
  }

  delete(i: number): void {
    const w = i >>> 5
    this.words[w]! &= ~(1 << (i & 31))
    if (w < this.lo) this.lo = w
    while (this.hi >= 0 && this.words[this.hi] === 0) this.hi--
  }

  /** A string that names this set exactly. */
  key(): string {
    return `${this.lo}:${this.words.subarray(this.lo, this.hi + 1).join(',')}`
  }
}

/** The result of searching one key. */
export interface KeyResult {
  verdict: 'ok' | 'violation' | 'unknown'
  steps: number
  /** On violation: the longest linearizable prefix found and the op that could not follow. */
  prefix?: Operation[]
  stuck?: Operation
  stateAfterPrefix?: RegisterState
}

/**
 * Whether an op only reads: a get, or a CAS that failed and read the key. Such an op that fits
 * the current state is linearized at once, without a choice point: it changes nothing and every
 * op that must precede it already does (its call lies before every pending return), so if any
 * order works from here, one that places it now works too. Reads then never cause branching.
 */
function isRead(op: Operation): boolean {
  if (op.outcome !== 'ok' || !op.output) return false
  return op.output.kind === 'get' || (op.output.kind === 'cas' && !op.output.succeeded)
}

/** The value an op needs to be current when it takes effect (a read's value, a CAS's expected). */
function neededValue(op: Operation): RegisterState | undefined {
  const out = op.outcome === 'ok' ? op.output : undefined
  if (out?.kind === 'get') return out.value
  if (out?.kind === 'cas')
    return out.succeeded ? (op.input.kind === 'cas' ? op.input.expected : undefined) : out.current
  return undefined
}

/**
 * The calls to try next, best guess first (Lowe's "just in time" order): the op whose return
 * comes first must be linearized before that return, so try it first, then the write that makes
 * it fit, then the other pending calls. A read that fits the current state is the only candidate.
 */
function candidatesAt(head: Entry, ops: Operation[], state: RegisterState): Entry[] {
  const calls: Entry[] = []
  let e = head.next
  for (; e && e.isCall; e = e.next) {
    const op = ops[e.op]!
    if (isRead(op) && neededValue(op) === state) return [e]
    calls.push(e)
  }
  if (!e) return calls
  const first = ops[e.op]!
  const needed = neededValue(first)
  const rank = (c: Entry): number => {
    if (c.op === e.op) return 0
    const op = ops[c.op]!
    return needed !== undefined && writtenValue(op) === needed ? 1 : 2
  }
  return calls.sort((a, b) => rank(a) - rank(b))
}

/** A choice on the search stack: the configuration before it and which candidate was taken. */
interface Frame {
  state: RegisterState
  candidates: Entry[]
  taken: number
}

/**
 * Searches for a linearization of one key's ops. Returns 'unknown' after `stepsMax` steps or at
 * `deadline` (performance.now()).
 */
export function checkKey(keyOps: Operation[], stepsMax: number, deadline: number): KeyResult {
  // In invocation order, so the linearized set is "all ops before lo, and a few after".
  const ops = boundUnknownWrites(keyOps).sort((a, b) => a.callMs - b.callMs || a.id - b.id)
  const head = buildEntries(ops)
  const linearized = new OpSet(ops.length)
  const seen = new Set<string>()
  const stack: Frame[] = []
  let state: RegisterState = null
  let knownLeft = ops.filter((op) => op.returnMs !== Infinity).length
  let best: { prefix: number[]; stuck: number | undefined; state: RegisterState } | undefined
  let candidates = candidatesAt(head, ops, state)
  let next = 0
  let steps = 0
  for (; ; steps++) {
    // Invariant: the ops of `stack` are linearized, in order, and `state` is the state after them.
    if (knownLeft === 0) return { verdict: 'ok', steps }
    if (steps >= stepsMax || ((steps & 0xfff) === 0 && performance.now() > deadline))
      return { verdict: 'unknown', steps }
    const e = candidates[next]
    if (e) {
      const op = ops[e.op]!
      const [ok, after] = stepModel(state, op)
      if (ok) {
        linearized.add(e.op)
        const memo = `${linearized.key()}|${JSON.stringify(after)}`
        if (!seen.has(memo)) {
          seen.add(memo)
          stack.push({ state, candidates, taken: next })
          state = after
          if (op.returnMs !== Infinity) knownLeft--
          lift(e)
          candidates = candidatesAt(head, ops, state)
          next = 0
          continue
        }
        linearized.delete(e.op)
      }
      next++
      continue
    }
    // Dead end: nothing fits before the first pending return. Remember the deepest, backtrack.
    if (!best || stack.length > best.prefix.length) {
      const stuck = firstReturn(head)
      best = { prefix: stack.map((f) => f.candidates[f.taken]!.op), stuck, state }
    }
    const top = stack.pop()
    if (!top) break
    const call = top.candidates[top.taken]!
    state = top.state
    linearized.delete(call.op)
    if (ops[call.op]!.returnMs !== Infinity) knownLeft++
    unlift(call)
    candidates = top.candidates
    next = top.taken + 1
  }
  return {
    verdict: 'violation',
    steps,
    prefix: best?.prefix.map((i) => ops[i]!) ?? [],
    stuck: best?.stuck !== undefined ? ops[best.stuck] : undefined,
    stateAfterPrefix: best?.state ?? null,
  }
}

/** The op whose return comes first in the list (the one that could not be linearized). */
function firstReturn(head: Entry): number | undefined {
  let e = head.next
  while (e && e.isCall) e = e.next
  return e?.op
}

/**
 * Narrows UNKNOWN writes without changing the answer, so that a history full of timeouts stays
 * tractable (otherwise every pending unknown write is a candidate at every step):
 * - one whose value nothing observed or relied on is dropped: "never happened" explains it, and
 *   dropping it keeps any linearization valid (the ops it preceded saw no trace of it; unknown
 *   CASes it made fail can move to the end);
 * - one whose value some op saw (a read, a failed CAS's read, a successful CAS's expectation)
 *   did take effect, before the earliest such op returned: that becomes its return time.
 * Values are unique per write, so an observed value names exactly one write.
 */
export function boundUnknownWrites(ops: Operation[]): Operation[] {
  const referenced = new Set(ops.flatMap(observedValues))
  const seenBy = new Map<string, number>()
  for (const op of ops) {
    const v = evidenceOfWrite(op)
    if (v !== undefined) seenBy.set(v, Math.min(op.returnMs, seenBy.get(v) ?? Infinity))
  }
  const result: Operation[] = []
  for (const op of ops) {
    const w = op.outcome === 'unknown' ? writtenValue(op) : undefined
    if (w === undefined) result.push(op)
    else if (!referenced.has(w)) continue
    else {
      const bound = seenBy.get(w) ?? Infinity
      // A bound before the call is a violation; leave the op unbounded and let the search say so.
      result.push(bound >= op.callMs ? { ...op, returnMs: bound } : op)
    }
  }
  return result
}

/** The value whose write must already have taken effect when this op did, if any. */
function evidenceOfWrite(op: Operation): string | undefined {
  const out = op.outcome === 'ok' ? op.output : undefined
  if (out?.kind === 'get') return out.value ?? undefined
  if (out?.kind === 'cas' && !out.succeeded) return out.current ?? undefined
  if (out?.kind === 'cas' && op.input.kind === 'cas') return op.input.expected ?? undefined
  return undefined
}

/** The ops the per-key search looks at: no definitely-failed ops, no UNKNOWN reads. */
export function relevantOps(ops: Operation[]): Operation[] {
  return ops.filter((op) => {
    if (op.outcome === 'failed') return false
    if (op.outcome === 'unknown' && op.input.kind === 'get') return false
    return true
  })
}

/** The values an op observed (reads and failed-CAS reads) or relied on (CAS expectations). */
function observedValues(op: Operation): string[] {
  const values: string[] = []
  if (op.input.kind === 'cas' && op.input.expected !== null) values.push(op.input.expected)
  const out = op.outcome === 'ok' ? op.output : undefined
  if (out?.kind === 'get' && out.value !== null) values.push(out.value)
  if (out?.kind === 'cas' && !out.succeeded && out.current !== null) values.push(out.current)
  return values
}

/** The value an op writes, if it is a write. */
function writtenValue(op: Operation): string | undefined {
  return op.input.kind === 'put' || op.input.kind === 'cas' ? op.input.value : undefined
}

/**
 * Shrinks a non-linearizable key history to a smaller one that is still not linearizable.
 * Removing a read, or a write nobody observed, keeps any linearization valid, so a smaller
 * failing history is a genuine witness. Greedy: drop chunks, halving their size.
 */
export function shrinkWitness(ops: Operation[], deadline: number): Operation[] {
  let current = ops
  const stillFails = (candidate: Operation[]): boolean =>
    checkKey(candidate, 200_000, deadline).verdict === 'violation'
  const removable = (candidate: Operation[], drop: Set<Operation>): boolean => {
    const observed = new Set(candidate.filter((op) => !drop.has(op)).flatMap(observedValues))
    for (const op of drop) {
      const w = writtenValue(op)
      if (w !== undefined && observed.has(w)) return false
    }
    return true
  }
  for (let chunk = Math.max(1, Math.floor(current.length / 2)); chunk >= 1;) {
    let changed = false
    for (let start = 0; start < current.length;) {
      if (performance.now() > deadline) return current
      const drop = new Set(current.slice(start, start + chunk))
      const candidate = current.filter((op) => !drop.has(op))
      if (removable(current, drop) && stillFails(candidate)) {
        current = candidate
        changed = true
      } else {
        start += chunk
      }
    }
    if (!changed) chunk = Math.floor(chunk / 2)
  }
  return current
}

/** A read of a value no write on that key ever wrote is a violation on its own. */
function checkValuesWritten(key: string, ops: Operation[]): Violation[] {
  const written = new Set(ops.filter((op) => op.outcome !== 'failed').map(writtenValue))
  const violations: Violation[] = []
  for (const op of ops) {
    if (op.outcome !== 'ok') continue
    for (const v of observedValues(op)) {
      if (written.has(v)) continue
      const definitelyFailed = ops.find((w) => writtenValue(w) === v)
      violations.push({
        kind: 'value-never-written',
        key,
        message:
          `${describeOp(op)} observed ${JSON.stringify(v)}, ` +
          (definitelyFailed ? 'written only by an op that failed definitely' : 'which no op wrote'),
        ops: definitelyFailed ? [op, definitelyFailed] : [op],
      })
    }
  }
  return violations
}

/**
 * Every write has its own revision: each observed (value, mod revision) pair must agree with every
 * other (one revision per value, one value per revision), and a read's header.revision is at
 * least the mod revision it read.
 */
export function checkRevisionConsistency(ops: Operation[]): Violation[] {
  const violations: Violation[] = []
  const revOfValue = new Map<string, { rev: number; op: Operation }>()
  const valueOfRev = new Map<number, { value: string; op: Operation }>()
  const observe = (value: string, rev: number, op: Operation): void => {
    const a = revOfValue.get(value)
    if (a && a.rev !== rev) {
      violations.push({
        kind: 'revision-consistency',
        key: op.key,
        message: `value ${JSON.stringify(value)} seen at mod revision ${a.rev} and ${rev}`,
        ops: [a.op, op],
      })
    }
    const b = valueOfRev.get(rev)
    if (b && b.value !== value) {
      violations.push({
        kind: 'revision-consistency',
        key: op.key,
        message: `revision ${rev} seen holding ${JSON.stringify(b.value)} and ${JSON.stringify(value)}`,
        ops: [b.op, op],
      })
    }
    if (!a) revOfValue.set(value, { rev, op })
    if (!b) valueOfRev.set(rev, { value, op })
  }
  for (const op of ops) {
    if (op.outcome !== 'ok' || !op.output || op.revision === undefined) continue
    const out = op.output
    if (out.kind === 'put' && op.input.kind === 'put') observe(op.input.value, op.revision, op)
    const read =
      out.kind === 'get'
        ? { value: out.value, rev: out.modRev }
        : out.kind === 'cas'
          ? { value: out.current, rev: out.currentModRev }
          : undefined
    if (!read || read.value === null) continue
    observe(read.value, read.rev, op)
    if (read.rev > op.revision) {
      violations.push({
        kind: 'revision-consistency',
        key: op.key,
        message: `${describeOp(op)} read mod revision ${read.rev} above its header.revision`,
        ops: [op],
      })
    }
  }
  return violations
}

/**
 * header.revision never goes backwards in real time: if A completed before B was invoked,
 * B.revision >= A.revision. Sweeps ops by invocation, keeping the highest revision completed so
 * far (O(n log n)).
 */
export function checkRevisionOrder(ops: Operation[]): Violation[] {
  const answered = ops.filter((op) => op.outcome === 'ok' && op.revision !== undefined)
  const byReturn = [...answered].sort((a, b) => a.returnMs - b.returnMs)
  const byCall = [...answered].sort((a, b) => a.callMs - b.callMs)
  const violations: Violation[] = []
  let highest: Operation | undefined
  let r = 0
  for (const b of byCall) {
    while (r < byReturn.length && byReturn[r]!.returnMs < b.callMs) {
      const a = byReturn[r++]!
      if (!highest || a.revision! > highest.revision!) highest = a
    }
    if (highest && b.revision! < highest.revision!) {
      violations.push({
        kind: 'revision-order',
        key: b.key,
        message:
          `header.revision went backwards: ${describeOp(highest)} completed with revision ` +
          `${highest.revision}, then ${describeOp(b)} answered revision ${b.revision}`,
        ops: [highest, b],
      })
    }
  }
  return violations
}

/** Checks a whole history: every key, revision order, revision consistency. */
export function checkHistory(
  history: Pick<History, 'ops'>,
  budget: Partial<CheckBudget> = {},
): CheckReport {
  const { stepsMax, timeMs } = { ...DEFAULT_BUDGET, ...budget }
  const started = performance.now()
  const deadline = started + timeMs
  const byKey = new Map<string, Operation[]>()
  for (const op of history.ops) {
    const list = byKey.get(op.key)
    if (list) list.push(op)
    else byKey.set(op.key, [op])
  }
  const violations: Violation[] = []
  const undecidedKeys: string[] = []
  let steps = 0
  for (const [key, keyOps] of byKey) {
    const values = checkValuesWritten(key, keyOps)
    violations.push(...values)
    const ops = relevantOps(keyOps)
    const result = checkKey(ops, stepsMax, deadline)
    steps += result.steps
    if (result.verdict === 'unknown') undecidedKeys.push(key)
    if (result.verdict !== 'violation' || values.length > 0) continue
    const witness = shrinkWitness(ops, Math.min(deadline, performance.now() + 5_000))
    violations.push(explainViolation(key, result, witness))
  }
  violations.push(...checkRevisionConsistency(history.ops), ...checkRevisionOrder(history.ops))
  const verdict = violations.length > 0 ? 'violation' : undecidedKeys.length > 0 ? 'unknown' : 'ok'
  return {
    verdict,
    violations,
    undecidedKeys,
    stats: {
      ops: history.ops.length,
      keys: byKey.size,
      steps,
      elapsedMs: performance.now() - started,
    },
  }
}

/** The message for a key no sequential order explains. */
function explainViolation(key: string, result: KeyResult, witness: Operation[]): Violation {
  const prefix = result.prefix ?? []
  const lines = [
    `key ${JSON.stringify(key)}: no sequential order explains its ${witness.length} ops below.`,
    `  Deepest search: ${prefix.length} ops linearized, leaving state ` +
      `${JSON.stringify(result.stateAfterPrefix ?? null)}; last of them:`,
    ...prefix.slice(-3).map((op) => `    ${describeOp(op)}`),
    `  then ${result.stuck ? describeOp(result.stuck) : '?'} completed but fits nowhere.`,
    `  Smallest failing sub-history found (by invocation):`,
    ...[...witness].sort((a, b) => a.callMs - b.callMs).map((op) => `    ${describeOp(op)}`),
  ]
  return { kind: 'linearizability', key, message: lines.join('\n'), ops: witness }
}

/** One line for an op: id, client, call, outcome and times. */
export function describeOp(op: Operation): string {
  const i = op.input
  const call =
    i.kind === 'get'
      ? 'get()'
      : i.kind === 'put'
        ? `put(${JSON.stringify(i.value)})`
        : i.compare === 'value'
          ? `cas(value==${JSON.stringify(i.expected)} -> ${JSON.stringify(i.value)})`
          : `cas(mod==${i.expectedModRev} [${JSON.stringify(i.expected)}] -> ${JSON.stringify(i.value)})`
  const out = op.output
  const result =
    op.outcome !== 'ok' || !out
      ? `${op.outcome.toUpperCase()}${op.error ? ` (${op.error.slice(0, 80)})` : ''}`
      : out.kind === 'get'
        ? `-> ${JSON.stringify(out.value)}@${out.modRev}`
        : out.kind === 'cas'
          ? out.succeeded
            ? '-> succeeded'
            : `-> failed, current ${JSON.stringify(out.current)}@${out.currentModRev}`
          : '-> ok'
  const rev = op.revision !== undefined ? ` rev=${op.revision}` : ''
  // An UNKNOWN op shows ∞, or "<t" once bounded by its first observer (boundUnknownWrites).
  const end =
    op.returnMs === Infinity
      ? '∞'
      : `${op.outcome === 'unknown' ? '<' : ''}${op.returnMs.toFixed(1)}`
  const via = op.via !== undefined ? ` via ${op.via}` : ''
  return `#${op.id} c${op.clientId}${via} ${op.key} ${call} ${result}${rev} [${op.callMs.toFixed(1)}..${end} ms]`
}

/** The whole report as text (printed on failure). */
export function describeReport(report: CheckReport): string {
  const head =
    `verdict ${report.verdict}: ${report.stats.ops} ops on ${report.stats.keys} keys, ` +
    `${report.stats.steps} search steps, ${report.stats.elapsedMs.toFixed(0)} ms`
  const undecided = report.undecidedKeys.length
    ? [`out of budget (unknown) on: ${report.undecidedKeys.join(', ')}`]
    : []
  const shown = report.violations.slice(0, 10).map((v) => `[${v.kind}] ${v.message}`)
  const more = report.violations.length > 10 ? [`… ${report.violations.length - 10} more`] : []
  return [head, ...undecided, ...shown, ...more].join('\n')
}
