// The simulated cluster: each node is a RawNode over a MemoryStorage plus a tiny state machine
// (a running hash of applied entries). The cluster runs each node's Ready loop exactly as the
// member must: persist → (checks) → send → apply → advance. A crash throws away the RawNode and
// the state machine but keeps the MemoryStorage (what was persisted).

import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  UnsafeTestingKnobs,
  Xoshiro128,
} from '../../src/raft/index.ts'
import {
  CompactedError,
  createRng,
  describeMessage,
  MemoryStorage,
  RawNode,
  UnavailableError,
} from '../../src/raft/index.ts'
import type { LogView } from './checker.ts'
import { Checker, foldHash } from './checker.ts'
import { Network } from './network.ts'

/** Knobs of the raft nodes and of the simulated application. */
export interface NodeKnobs {
  maxSizePerMsg: number
  maxInflightMsgs: number
  /** Take a snapshot every this many applied entries. */
  snapshotCount: number
  /** Entries kept in the log behind a snapshot when compacting. */
  keepEntries: number
  /**
   * The application persists its applied index and membership with every Ready (as the member
   * does) and restarts with Config.applied there; otherwise it restarts from the snapshot.
   */
  persistApplied?: boolean
  /** Raft options the member leaves at their defaults (true); swarmed to cover both paths. */
  preVote?: boolean
  checkQuorum?: boolean
  unsafe?: UnsafeTestingKnobs
}

interface AppState {
  applied: number
  hash: number
  confState: ConfState
}

/** One simulated member. */
export class SimNode {
  readonly storage = new MemoryStorage()
  node: RawNode | undefined
  app: AppState = { applied: 0, hash: 0, confState: { voters: [], learners: [] } }
  /** The application state as persisted (persistApplied mode). */
  durableApp: AppState | undefined
  incarnation = 0
  isLeader = false
  /** The last commit index the checker was told about. */
  reportedCommit = 0

  readonly id: string
  readonly bootstrapPeers: string[]

  constructor(id: string, bootstrapPeers: string[]) {
    this.id = id
    this.bootstrapPeers = bootstrapPeers
  }

  get alive(): boolean {
    return this.node !== undefined
  }
}

/** Everything the cluster needs to run nodes and check them. */
export class Cluster {
  readonly nodes = new Map<string, SimNode>()
  readonly net: Network
  readonly checker = new Checker()
  now = 0
  /** data → microstep when first applied anywhere (the proposal was acknowledged). */
  readonly appliedData = new Map<string, number>()
  trace: string[] | undefined
  /** Distinct conf-change indexes applied anywhere, and snapshots installed from leaders. */
  readonly confChangesApplied = new Set<number>()
  snapshotsInstalled = 0
  /** Whether delivery and loss of MsgSnap are reported back to the sender. */
  reportSnapshots = true

  readonly rng: Xoshiro128
  readonly knobs: NodeKnobs

  constructor(rng: Xoshiro128, knobs: NodeKnobs, net: Network) {
    this.rng = rng
    this.knobs = knobs
    this.net = net
  }

  static create(rng: Xoshiro128, knobs: NodeKnobs, ids: string[]): Cluster {
    const net = new Network(rng, { dropRate: 0, dupRate: 0, maxLatency: 1 })
    const c = new Cluster(rng, knobs, net)
    for (const id of ids) c.addNode(id, ids)
    return c
  }

  /** Creates (and starts) a node; `peers` bootstraps a brand-new cluster, [] joins one. */
  addNode(id: string, peers: string[]): SimNode {
    const n = new SimNode(id, peers)
    this.nodes.set(id, n)
    this.start(n)
    return n
  }

  private log(s: string): void {
    if (this.trace) {
      this.trace.push(`[${this.now}] ${s}`)
      if (this.trace.length > 400) this.trace.splice(0, 100)
    }
  }

  /** Starts (or restarts) a node from its persisted storage. */
  start(n: SimNode): void {
    const snap = n.storage.snapshot()
    const durable = this.knobs.persistApplied ? n.durableApp : undefined
    const applied = durable ? durable.applied : snap.metadata.index
    n.node = new RawNode({
      id: n.id,
      peers: n.bootstrapPeers,
      storage: n.storage,
      applied,
      rng: createRng(this.rng.nextUint32()),
      maxSizePerMsg: this.knobs.maxSizePerMsg,
      maxInflightMsgs: this.knobs.maxInflightMsgs,
      preVote: this.knobs.preVote ?? true,
      checkQuorum: this.knobs.checkQuorum ?? true,
      ...(this.knobs.unsafe ? { unsafeTestingKnobs: this.knobs.unsafe } : {}),
    })
    // The state machine is what was persisted, or is rebuilt from the snapshot; later entries
    // are re-applied.
    n.app = durable
      ? { ...durable, confState: cloneCs(durable.confState) }
      : {
          applied,
          hash: applied > 0 ? (JSON.parse(snap.data) as { hash: number }).hash : 0,
          confState: snap.metadata.confState,
        }
    n.reportedCommit = n.storage.getHardState().commit
    n.isLeader = false
    n.incarnation++
    this.log(`${n.id} started (incarnation ${n.incarnation}, applied ${applied})`)
  }

  /** Crashes a node: everything not persisted is lost. */
  crash(n: SimNode): void {
    if (!n.node) return
    n.node = undefined
    if (n.isLeader) this.checker.onNotLeader(n.id)
    n.isLeader = false
    this.log(`${n.id} crashed`)
  }

  /** A view of a node's persisted log for the checker. */
  logView(n: SimNode): LogView {
    const s = n.storage
    return {
      firstIndex: () => s.firstIndex(),
      lastIndex: () => s.lastIndex(),
      term: (i) => s.term(i),
      entry: (i) => s.entries(i, i + 1, Number.MAX_SAFE_INTEGER)[0]!,
    }
  }

  /** Runs the Ready loop of `n` until it has nothing left to do. */
  handleReady(n: SimNode, crashAfterPersist = false): void {
    const node = n.node
    if (!node) return
    const lostSnaps: string[] = []
    this.readyLoop(n, node, crashAfterPersist, lostSnaps)
    for (const to of lostSnaps) {
      if (!n.node || !this.reportSnapshots) break
      n.node.reportSnapshot(to, 'failure')
      this.handleReady(n)
    }
  }

  private readyLoop(
    n: SimNode,
    node: RawNode,
    crashAfterPersist: boolean,
    lostSnaps: string[],
  ): void {
    while (node.hasReady()) {
      const rd = node.ready()
      // 1. Persist snapshot, entries, hard state (one atomic write).
      if (rd.snapshot) n.storage.applySnapshot(rd.snapshot)
      if (rd.entries.length > 0) {
        this.checker.onPersistEntries(n.id, rd.entries, (i) => termOrUndefined(n.storage, i))
        n.storage.append(rd.entries)
      }
      if (rd.hardState) n.storage.setHardState(rd.hardState)
      // Checks on what is now durable.
      if (rd.softState) this.onSoftState(n, rd.softState.state === 'leader')
      if (rd.hardState && rd.hardState.commit > n.reportedCommit) {
        const hs = rd.hardState
        this.checker.onCommit(n.id, n.reportedCommit, hs.commit, this.logView(n), hs.term)
        n.reportedCommit = rd.hardState.commit
      }
      if (crashAfterPersist) {
        this.crash(n)
        return
      }
      // 2. Send. A lost snapshot is reported back, as the member's transport must do.
      for (const m of rd.messages) {
        if (!this.net.send(m, this.now) && m.type === 'MsgSnap') lostSnaps.push(m.to)
      }
      // 3. Apply.
      if (rd.snapshot)
        this.applySnapshot(
          n,
          rd.snapshot.metadata.index,
          rd.snapshot.data,
          rd.snapshot.metadata.confState,
        )
      for (const e of rd.committedEntries) this.apply(n, e)
      if (this.knobs.persistApplied) {
        n.durableApp = { ...n.app, confState: cloneCs(n.app.confState) }
        n.storage.setConfState(n.app.confState)
      }
      for (const rs of rd.readStates) this.checker.onReadState(n.id, rs.ctx, rs.index)
      // 4. Advance.
      node.advance()
    }
  }

  private onSoftState(n: SimNode, leader: boolean): void {
    const node = n.node!
    if (leader) {
      n.isLeader = true
      this.log(`${n.id} is leader of term ${node.status().term}`)
      this.checker.onLeader(n.id, node.status().term, () => this.logView(n))
    } else if (n.isLeader) {
      n.isLeader = false
      this.checker.onNotLeader(n.id)
    }
  }

  private applySnapshot(n: SimNode, index: number, data: string, cs: ConfState): void {
    const hash = (JSON.parse(data) as { hash: number }).hash
    this.checker.onSnapshotInstall(n.id, index, hash)
    n.app = { applied: index, hash, confState: cs }
    this.snapshotsInstalled++
    this.log(`${n.id} installed snapshot at ${index}`)
  }

  private apply(n: SimNode, e: Entry): void {
    const hash = foldHash(n.app.hash, e)
    this.checker.onApply(n.id, n.app.applied, e, hash)
    n.app.applied = e.index
    n.app.hash = hash
    if (e.data !== '' && !this.appliedData.has(e.data)) this.appliedData.set(e.data, this.now)
    if (e.type === 'confChange') {
      const cc = JSON.parse(e.data) as ConfChange
      n.app.confState = n.node!.applyConfChange(cc)
      this.confChangesApplied.add(e.index)
      this.log(
        `${n.id} applied conf change ${e.data} at ${e.index} → ${JSON.stringify(n.app.confState)}`,
      )
      // Snapshot at every conf change so a snapshot sent to a new member includes it (the
      // member does the same by building snapshots from its current applied state).
      this.snapshot(n, e.index)
    } else if (e.index - n.storage.snapshot().metadata.index >= this.knobs.snapshotCount) {
      this.snapshot(n, e.index)
      const compactTo = e.index - this.knobs.keepEntries
      if (compactTo > n.storage.firstIndex()) n.storage.compact(compactTo)
    }
  }

  private snapshot(n: SimNode, index: number): void {
    if (index <= n.storage.snapshot().metadata.index) return
    n.storage.createSnapshot(index, n.app.confState, JSON.stringify({ hash: n.app.hash }))
  }

  /** Delivers one message, then runs the recipient's Ready loop. */
  deliver(m: Message): void {
    const to = this.nodes.get(m.to)
    const from = this.nodes.get(m.from)
    const blocked = this.net.isBlocked(m.from, m.to)
    if (!to || !to.node || blocked) {
      this.log(`drop ${m.type} ${m.from}->${m.to}${blocked ? ' (partition)' : ' (down)'}`)
      if (m.type === 'MsgSnap' && from?.node && this.reportSnapshots) {
        from.node.reportSnapshot(m.to, 'failure')
        this.handleReady(from)
      }
      return
    }
    if (this.trace) this.log(describeMessage(m))
    to.node.step(m)
    this.handleReady(to)
    if (m.type === 'MsgSnap' && from?.node && this.reportSnapshots) {
      from.node.reportSnapshot(m.to, 'finish')
      this.handleReady(from)
    }
  }

  /** The alive leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined
    let bestTerm = -1
    for (const n of this.nodes.values()) {
      if (!n.node) continue
      const st = n.node.status()
      if (st.state === 'leader' && st.term > bestTerm) {
        best = n
        bestTerm = st.term
      }
    }
    return best
  }

  alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive)
  }
}

function cloneCs(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}

function termOrUndefined(s: MemoryStorage, i: number): number | undefined {
  try {
    return s.term(i)
  } catch (e) {
    if (e instanceof CompactedError || e instanceof UnavailableError) return undefined
    throw e
  }
}
