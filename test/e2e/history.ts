// The history recorder: concurrent clients issue reads, writes and compare-and-set txns on a
// handful of keys through etcd's v3 JSON API and record, for every operation, when it was invoked
// and when it completed (performance.now, one monotonic clock for all clients), what it asked and
// what came back. The history is what test/e2e/linearizability.ts checks.
//
// One seed drives every choice a client makes (which op, which key, which CAS form): client c
// draws from its own PRNG seeded from (seed, c), so E2E_SEED=<n> replays the same per-client op
// schedule. What a CAS expects is the client's last observation of the key, and the interleaving
// is the runtime's, so a replay is the same schedule, not the same history.
import { createRng, type Xoshiro128 } from '../../src/raft/rng.ts'

/** What an operation asked for. Values are unique per write so a read names the write it saw. */
export type OpInput =
  | { kind: 'get' }
  | { kind: 'put'; value: string }
  | {
      kind: 'cas'
      /** Compare the key's VALUE with `expected`, or its MOD revision with `expectedModRev`. */
      compare: 'value' | 'mod'
      /** The value the client believes is current (null = absent, only with compare 'mod'). */
      expected: string | null
      /** The mod revision the client saw with `expected` (0 = absent); compare 'mod' only. */
      expectedModRev: number
      value: string
    }

/** What an operation observed (only for outcome 'ok'). */
export type OpOutput =
  | { kind: 'get'; value: string | null; modRev: number }
  | { kind: 'put' }
  /** On failure the txn's failure branch ranges the key, so a failed CAS is also a read. */
  | { kind: 'cas'; succeeded: boolean; current: string | null; currentModRev: number }

/**
 * - ok: the server answered 200; `output` and `revision` are set.
 * - failed: an etcd error that means nothing happened (bad request, precondition).
 * - unknown: timeout, connection error, 5xx or Unavailable: it may or may not have taken effect.
 */
export type Outcome = 'ok' | 'failed' | 'unknown'

/** One operation of a history. */
export interface Operation {
  /** Index in the history (invocation order). */
  id: number
  clientId: number
  key: string
  /** Invocation and completion time in ms (performance.now); `returnMs` is Infinity if unknown. */
  callMs: number
  returnMs: number
  input: OpInput
  outcome: Outcome
  output?: OpOutput
  /** header.revision of the answer (outcome 'ok' only). */
  revision?: number
  /** What went wrong, for 'failed' and 'unknown'. */
  error?: string
  /** Wall time the answer took (also known for unknown outcomes, for latency reports). */
  elapsedMs: number
  /** Where the request entered (a member's name, or the front door), when the transport says. */
  via?: string
}

/** How a client talks to a server; tests wrap it to inject bugs. */
export interface Transport {
  post(clientId: number, path: string, body: unknown, signal: AbortSignal): Promise<HttpAnswer>
}

/** A server's answer: status and parsed JSON (undefined if the body was not JSON). */
export interface HttpAnswer {
  status: number
  json: unknown
  text: string
  /** Where the request entered, if the transport chose (see memberTransport). */
  via?: string
}

/** A Transport over fetch to `baseUrl` (edge-etcd's front door or real etcd). */
export function httpTransport(baseUrl: string): Transport {
  return {
    async post(_clientId, path, body, signal) {
      const response = await fetch(baseUrl + path, {
        method: 'POST',
        body: JSON.stringify(body),
        signal,
      })
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: response.status, json, text }
    },
  }
}

/** What to record. */
export interface RecordOptions {
  transport: Transport
  seed: number
  /** Number of concurrent clients (>= 8 for the issue's acceptance). */
  clients: number
  /** Number of keys (3–5 keeps the per-key search tractable and contention high). */
  keys: number
  /** Keys are `${keyPrefix}k${i}`; a fresh prefix per run keeps runs apart. */
  keyPrefix: string
  /** Stop issuing after this many operations in total … */
  opsMax: number
  /** … or after this long, whichever comes first. */
  durationMs: number
  /** A request not answered in this long is abandoned as UNKNOWN. */
  requestTimeoutMs: number
  /** Percentages of get / put (the rest is cas). */
  getPercent?: number
  putPercent?: number
  /**
   * After an UNKNOWN outcome the client waits this long before its next op, as real clients back
   * off (while the runtime is down, connections fail at once and would flood the history).
   */
  backoffAfterUnknownMs?: number
}

/** A recorded history plus what the run saw. */
export interface History {
  seed: number
  keys: string[]
  ops: Operation[]
  wallMs: number
}

/** etcd gRPC codes after which a request may still have taken effect. */
const AMBIGUOUS_CODES = new Set([
  1, // Canceled
  2, // Unknown
  4, // DeadlineExceeded (etcdserver: request timed out)
  10, // Aborted
  13, // Internal
  14, // Unavailable (no leader, leader changed, …)
])

/** Whether an error answer may hide an effect (UNKNOWN) or certainly did nothing (failed). */
export function classifyError(status: number, json: unknown): 'failed' | 'unknown' {
  if (status >= 500) return 'unknown'
  const code = (json as { code?: unknown } | undefined)?.code
  if (typeof code === 'number' && AMBIGUOUS_CODES.has(code)) return 'unknown'
  return 'failed'
}

const encode = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
const decode = (s: string): string => Buffer.from(s, 'base64').toString('utf8')

/** etcd's int64 fields arrive as strings and are omitted when zero. */
function int64(v: unknown): number {
  if (v === undefined || v === null) return 0
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`not an int64: ${JSON.stringify(v)}`)
  return n
}

interface Kv {
  value?: string
  mod_revision?: string
}

/** The first kv of a range answer as (value, mod revision); absent = (null, 0). */
function firstKv(kvs: unknown): { value: string | null; modRev: number } {
  const kv = (kvs as Kv[] | undefined)?.[0]
  if (!kv) return { value: null, modRev: 0 }
  return { value: decode(kv.value ?? ''), modRev: int64(kv.mod_revision) }
}

/** The request body for an operation. */
export function requestFor(key: string, input: OpInput): { path: string; body: unknown } {
  const k = encode(key)
  switch (input.kind) {
    case 'get':
      return { path: '/v3/kv/range', body: { key: k } }
    case 'put':
      return { path: '/v3/kv/put', body: { key: k, value: encode(input.value) } }
    case 'cas': {
      const compare =
        input.compare === 'value'
          ? { key: k, target: 'VALUE', result: 'EQUAL', value: encode(input.expected ?? '') }
          : { key: k, target: 'MOD', result: 'EQUAL', mod_revision: String(input.expectedModRev) }
      return {
        path: '/v3/kv/txn',
        body: {
          compare: [compare],
          success: [{ request_put: { key: k, value: encode(input.value) } }],
          failure: [{ request_range: { key: k } }],
        },
      }
    }
  }
}

/** Decodes a 200 answer into the operation's output and header.revision. */
export function parseOutput(input: OpInput, json: unknown): { output: OpOutput; revision: number } {
  const body = json as {
    header?: { revision?: string }
    kvs?: unknown
    succeeded?: boolean
    responses?: { response_range?: { kvs?: unknown } }[]
  }
  const revision = int64(body.header?.revision)
  switch (input.kind) {
    case 'get': {
      const kv = firstKv(body.kvs)
      return { output: { kind: 'get', ...kv }, revision }
    }
    case 'put':
      return { output: { kind: 'put' }, revision }
    case 'cas': {
      const succeeded = body.succeeded === true
      if (succeeded) {
        return {
          output: { kind: 'cas', succeeded, current: input.value, currentModRev: revision },
          revision,
        }
      }
      const kv = firstKv(body.responses?.[0]?.response_range?.kvs)
      return {
        output: { kind: 'cas', succeeded, current: kv.value, currentModRev: kv.modRev },
        revision,
      }
    }
  }
}

/** What a client last knew about a key: a value and its mod revision. */
interface Knowledge {
  value: string | null
  modRev: number
}

/** Chooses the next operation for a client from its PRNG and what it knows. */
function chooseOp(
  rng: Xoshiro128,
  options: RecordOptions,
  clientId: number,
  seq: number,
  known: Map<number, Knowledge>,
): { keyIndex: number; input: OpInput } {
  const keyIndex = rng.int(options.keys)
  const roll = rng.int(100)
  const casByValue = rng.int(2) === 0
  const value = `c${clientId}-${seq}`
  const getPercent = options.getPercent ?? 40
  const putPercent = options.putPercent ?? 30
  if (roll < getPercent) return { keyIndex, input: { kind: 'get' } }
  if (roll < getPercent + putPercent) return { keyIndex, input: { kind: 'put', value } }
  const k = known.get(keyIndex) ?? { value: null, modRev: 0 }
  // A VALUE compare on an absent key always fails in etcd; compare MOD = 0 ("create") instead.
  const compare = casByValue && k.value !== null ? 'value' : 'mod'
  return {
    keyIndex,
    input: { kind: 'cas', compare, expected: k.value, expectedModRev: k.modRev, value },
  }
}

/** Updates what a client knows about a key after an answer. */
function learn(known: Map<number, Knowledge>, keyIndex: number, op: Operation): void {
  const out = op.output
  if (op.outcome !== 'ok' || !out) return
  if (out.kind === 'get') known.set(keyIndex, { value: out.value, modRev: out.modRev })
  if (out.kind === 'cas') known.set(keyIndex, { value: out.current, modRev: out.currentModRev })
  if (out.kind === 'put' && op.input.kind === 'put' && op.revision !== undefined)
    known.set(keyIndex, { value: op.input.value, modRev: op.revision })
}

/** Issues one operation and records it. */
async function invoke(
  options: RecordOptions,
  clientId: number,
  id: number,
  key: string,
  input: OpInput,
  t0: number,
): Promise<Operation> {
  const { path, body } = requestFor(key, input)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), options.requestTimeoutMs)
  const callMs = performance.now() - t0
  const op: Operation = {
    id,
    clientId,
    key,
    callMs,
    returnMs: Infinity,
    input,
    outcome: 'unknown',
    elapsedMs: 0,
  }
  try {
    const answer = await options.transport.post(clientId, path, body, controller.signal)
    const now = performance.now() - t0
    op.elapsedMs = now - callMs
    if (answer.via !== undefined) op.via = answer.via
    if (answer.status === 200) {
      const { output, revision } = parseOutput(input, answer.json)
      Object.assign(op, { outcome: 'ok', output, revision, returnMs: now })
    } else {
      op.outcome = classifyError(answer.status, answer.json)
      op.error = `${answer.status} ${answer.text.slice(0, 200)}`
      if (op.outcome === 'failed') op.returnMs = now
    }
  } catch (e) {
    op.elapsedMs = performance.now() - t0 - callMs
    const via = (e as { via?: unknown } | undefined)?.via
    if (typeof via === 'string') op.via = via
    op.error = controller.signal.aborted
      ? `timeout after ${options.requestTimeoutMs} ms`
      : String(e)
  } finally {
    clearTimeout(timer)
  }
  return op
}

/** The PRNG of one client: seeded from the run's seed and the client's id. */
export function clientRng(seed: number, clientId: number): Xoshiro128 {
  return createRng((seed ^ Math.imul(clientId + 1, 0x9e3779b9)) >>> 0)
}

/** Runs the clients until `opsMax` operations were issued or `durationMs` passed. */
export async function recordHistory(options: RecordOptions): Promise<History> {
  const keys = Array.from({ length: options.keys }, (_, i) => `${options.keyPrefix}k${i}`)
  const ops: Operation[] = []
  const t0 = performance.now()
  let issued = 0
  const client = async (clientId: number): Promise<void> => {
    const rng = clientRng(options.seed, clientId)
    const known = new Map<number, Knowledge>()
    for (let seq = 0; ; seq++) {
      if (issued >= options.opsMax || performance.now() - t0 >= options.durationMs) return
      const id = issued++
      const { keyIndex, input } = chooseOp(rng, options, clientId, seq, known)
      const op = await invoke(options, clientId, id, keys[keyIndex]!, input, t0)
      ops[id] = op
      learn(known, keyIndex, op)
      const backoff = options.backoffAfterUnknownMs ?? 0
      if (op.outcome === 'unknown' && backoff > 0) await new Promise((r) => setTimeout(r, backoff))
    }
  }
  await Promise.all(Array.from({ length: options.clients }, (_, c) => client(c)))
  return { seed: options.seed, keys, ops, wallMs: performance.now() - t0 }
}

/** The p-th quantile (0..1) of sorted numbers, as text. */
function quantile(sorted: number[], p: number): string {
  const v = sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
  return v === undefined ? '-' : v.toFixed(1)
}

/** A short summary: counts per kind and outcome, latency per kind, errors seen. */
export function summarize(history: History): string {
  const count = new Map<string, number>()
  const errors = new Map<string, number>()
  const latency = new Map<string, number[]>()
  let casSucceeded = 0
  for (const op of history.ops) {
    const k = `${op.input.kind}:${op.outcome}`
    count.set(k, (count.get(k) ?? 0) + 1)
    if (op.error) errors.set(op.error, (errors.get(op.error) ?? 0) + 1)
    if (op.outcome === 'ok') {
      const list = latency.get(op.input.kind) ?? []
      list.push(op.elapsedMs)
      latency.set(op.input.kind, list)
    }
    if (op.output?.kind === 'cas' && op.output.succeeded) casSucceeded++
  }
  const lines = [
    `seed ${history.seed}: ${history.ops.length} ops in ${(history.wallMs / 1000).toFixed(1)} s` +
      ` (${[...count].map(([k, n]) => `${k}=${n}`).join(' ')}, cas succeeded=${casSucceeded})`,
  ]
  for (const [kind, ms] of latency) {
    ms.sort((a, b) => a - b)
    const q = (p: number): string => quantile(ms, p)
    lines.push(`${kind} latency ms: p50=${q(0.5)} p90=${q(0.9)} p99=${q(0.99)} max=${q(1)}`)
  }
  for (const [e, n] of errors) lines.push(`error x${n}: ${e}`)
  return lines.join('\n')
}
