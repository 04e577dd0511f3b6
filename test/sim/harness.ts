// A small synchronous test network for unit tests of the raft core (in the spirit of etcd's
// raft_test.go `network`): nodes over MemoryStorage, messages delivered in FIFO order until the
// cluster is quiet, with links that can be cut. Each node's Ready is handled by the contract.

import type { Config, ConfChange, Entry, Message, MessageType } from '../../src/raft/index.ts'
import { createRng, MemoryStorage, RawNode } from '../../src/raft/index.ts'

/** One node of the test network. */
export interface TestNode {
  id: string
  rn: RawNode
  storage: MemoryStorage
  /** Every entry applied, in order. */
  applied: Entry[]
  readStates: { index: number; ctx: string }[]
}

/** Options for `newNode`. */
export type NodeOptions = Partial<Omit<Config, 'id' | 'storage' | 'rng'>> & {
  storage?: MemoryStorage
  seed?: number
}

/** A RawNode with test defaults (electionTicks 10, heartbeatTicks 1, seeded rng). */
export function newNode(id: string, opts: NodeOptions = {}): TestNode {
  const storage = opts.storage ?? new MemoryStorage()
  const { seed, storage: _s, ...rest } = opts
  const rn = new RawNode({ id, storage, rng: createRng(seed ?? hash(id)), ...rest })
  return { id, rn, storage, applied: [], readStates: [] }
}

function hash(s: string): number {
  let h = 7
  for (let i = 0; i < s.length; i++) h = Math.imul(h, 31) + s.charCodeAt(i)
  return h >>> 0
}

/** A storage pre-filled with entries of the given terms at indexes 1.., and a hard state term. */
export function storageWithTerms(terms: number[], voters: string[], commit = 0): MemoryStorage {
  const s = new MemoryStorage({ voters, learners: [] })
  s.append(
    terms.map((term, i) => ({ term, index: i + 1, type: 'normal', data: `t${term}i${i + 1}` })),
  )
  const last = terms[terms.length - 1] ?? 0
  s.setHardState({ term: last, vote: '', commit })
  return s
}

/** The terms of a node's whole log (storage, after settle), from index 1. */
export function logTerms(n: TestNode): number[] {
  const out: number[] = []
  for (let i = n.storage.firstIndex(); i <= n.storage.lastIndex(); i++) out.push(n.storage.term(i))
  return out
}

/** A synchronous network of test nodes. */
export class TestNetwork {
  readonly nodes = new Map<string, TestNode>()
  private readonly cut = new Set<string>()
  private readonly ignored = new Set<MessageType>()
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = []
  private queue: Message[] = []

  constructor(nodes: TestNode[]) {
    for (const n of nodes) this.nodes.set(n.id, n)
  }

  /** Builds a bootstrapped cluster of `ids` (all voters). */
  static bootstrap(ids: string[], opts: NodeOptions = {}): TestNetwork {
    const nw = new TestNetwork(ids.map((id) => newNode(id, { peers: ids, ...opts })))
    nw.settle()
    return nw
  }

  node(id: string): TestNode {
    const n = this.nodes.get(id)
    if (!n) throw new Error(`no node ${id}`)
    return n
  }

  /** Cuts the link a→b and b→a. */
  isolate(id: string): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue
      this.cut.add(`${id}>${other}`)
      this.cut.add(`${other}>${id}`)
    }
  }

  cutLink(from: string, to: string): void {
    this.cut.add(`${from}>${to}`)
  }

  /** Drops every message of this type. */
  ignore(t: MessageType): void {
    this.ignored.add(t)
  }

  recover(): void {
    this.cut.clear()
    this.ignored.clear()
  }

  /** Handles `n`'s Ready (persist → queue messages → apply → advance) until it is quiet. */
  handleReady(n: TestNode): void {
    while (n.rn.hasReady()) {
      const rd = n.rn.ready()
      if (rd.snapshot) n.storage.applySnapshot(rd.snapshot)
      n.storage.append(rd.entries)
      if (rd.hardState) n.storage.setHardState(rd.hardState)
      this.queue.push(...rd.messages)
      for (const e of rd.committedEntries) {
        n.applied.push(e)
        if (e.type === 'confChange') n.rn.applyConfChange(JSON.parse(e.data) as ConfChange)
      }
      n.readStates.push(...rd.readStates)
      n.rn.advance()
    }
  }

  /** Delivers queued messages (and any they cause) until nothing is left. */
  settle(maxMessages = 100_000): void {
    for (const n of this.nodes.values()) this.handleReady(n)
    let count = 0
    while (this.queue.length > 0) {
      if (++count > maxMessages) throw new Error('network did not settle')
      const m = this.queue.shift()!
      if (this.cut.has(`${m.from}>${m.to}`) || this.ignored.has(m.type)) continue
      const to = this.nodes.get(m.to)
      if (!to) continue
      this.delivered.push(m)
      to.rn.step(JSON.parse(JSON.stringify(m)) as Message)
      this.handleReady(to)
    }
  }

  /** Queued-but-undelivered messages (after handleReady without settle). */
  pending(): Message[] {
    return this.queue
  }

  /** Takes the queued messages out without delivering them. */
  drain(): Message[] {
    const q = this.queue
    this.queue = []
    return q
  }

  /** Ticks `id` n times, settling the network after each tick. */
  tick(id: string, n = 1): void {
    const node = this.node(id)
    for (let i = 0; i < n; i++) {
      node.rn.tick()
      this.handleReady(node)
      this.settle()
    }
  }

  /** Campaigns `id` and settles the network. */
  campaign(id: string): void {
    const n = this.node(id)
    n.rn.campaign()
    this.handleReady(n)
    this.settle()
  }

  /** Proposes on `id` and settles. */
  propose(id: string, data: string): void {
    const n = this.node(id)
    n.rn.propose(data)
    this.handleReady(n)
    this.settle()
  }

  /** The ids currently in the leader state. */
  leaders(): string[] {
    return [...this.nodes.values()].filter((n) => n.rn.status().state === 'leader').map((n) => n.id)
  }
}
