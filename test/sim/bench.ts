// Throughput benchmark (not a test): a 3-node in-memory cluster, proposals in batches, every
// Ready handled by the contract (persist to MemoryStorage → deliver → apply → advance).
//   node test/sim/bench.ts [--proposals N] [--batch B] [--size BYTES]
// Reports proposals committed (applied on all nodes) per second of CPU and the cost per entry.

import type { Message } from '../../src/raft/index.ts'
import { createRng, MemoryStorage, RawNode } from '../../src/raft/index.ts'

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}

const total = arg('proposals', 500_000)
const batch = arg('batch', 1000)
const size = arg('size', 16)
const ids = ['a', 'b', 'c']
const nodes = new Map(
  ids.map((id) => {
    const storage = new MemoryStorage()
    return [
      id,
      {
        storage,
        rn: new RawNode({ id, peers: ids, storage, rng: createRng(id.charCodeAt(0)) }),
        applied: 0,
      },
    ]
  }),
)
const queue: Message[] = []

function handle(id: string): void {
  const n = nodes.get(id)!
  while (n.rn.hasReady()) {
    const rd = n.rn.ready()
    if (rd.entries.length > 0) n.storage.append(rd.entries)
    if (rd.hardState) n.storage.setHardState(rd.hardState)
    for (const m of rd.messages) queue.push(m)
    n.applied += rd.committedEntries.length
    const last = rd.committedEntries[rd.committedEntries.length - 1]
    n.rn.advance()
    // Compact now and then so the in-memory log stays small.
    if (last && last.index - n.storage.firstIndex() > 50_000) {
      n.storage.createSnapshot(last.index, undefined, '')
      n.storage.compact(last.index - 1000)
    }
  }
}

function settle(): void {
  for (const id of ids) handle(id)
  while (queue.length > 0) {
    const m = queue.shift()!
    nodes.get(m.to)!.rn.step(m)
    handle(m.to)
  }
}

settle()
const leader = nodes.get('a')!
leader.rn.campaign()
settle()
const base = Math.min(...[...nodes.values()].map((n) => n.applied))
const payload = 'x'.repeat(size)
const data = Array.from({ length: batch }, () => payload)

const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
for (let done = 0; done < total; done += batch) {
  leader.rn.proposeMany(data)
  settle()
}
const wall = Number(process.hrtime.bigint() - t0) / 1e9
const c = process.cpuUsage(cpu0)
const cpu = (c.user + c.system) / 1e6
const applied = Math.min(...[...nodes.values()].map((n) => n.applied)) - base
console.log(
  `${applied} proposals (batch ${batch}, ${size} B) applied on 3 nodes in ${cpu.toFixed(2)} s CPU (${wall.toFixed(2)} s wall)`,
)
console.log(
  `${Math.round(applied / cpu).toLocaleString('en')} proposals/s of CPU, ${((cpu / applied) * 1e6).toFixed(2)} µs per entry (all 3 nodes)`,
)
