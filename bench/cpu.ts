// CPU use of the servers under test, read from /proc (Linux only; elsewhere it reports nothing).
// Throughput alone does not say why a server stops scaling; "one thread at 100 %" does
// (TOOLCHAIN.md, "The ceiling": workerd runs the front door and every Durable Object on one thread).
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second for /proc times (USER_HZ; 100 on every Linux we run on). */
const TICKS_PER_SECOND = 100

/** utime + stime of /proc/<pid>[/task/<tid>]/stat, in ticks; undefined if it is gone. */
function statTicks(path: string): number | undefined {
  let text: string
  try {
    text = readFileSync(path, 'latin1')
  } catch {
    return undefined
  }
  // The command name (field 2) may contain spaces: fields are counted after its ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // After ')': state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
  return Number(fields[11]) + Number(fields[12])
}

/** Per-thread CPU ticks of a set of processes at one moment. */
export type CpuSnapshot = Map<string, number>

/** Reads the CPU ticks of every thread of `pids`. */
export function snapshotCpu(pids: number[]): CpuSnapshot {
  const snap: CpuSnapshot = new Map()
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      const ticks = statTicks(`/proc/${pid}/task/${tid}/stat`)
      if (ticks !== undefined) snap.set(`${pid}/${tid}`, ticks)
    }
  }
  return snap
}

/** CPU use between two snapshots, in % of one core: all threads, and the busiest thread. */
export interface CpuUse {
  totalPercent: number
  busiestThreadPercent: number
}

/** CPU use between `before` and `after`, taken `seconds` apart. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, seconds: number): CpuUse {
  let total = 0
  let busiest = 0
  for (const [tid, end] of after) {
    const delta = end - (before.get(tid) ?? end)
    total += delta
    busiest = Math.max(busiest, delta)
  }
  const pct = (ticks: number): number => (ticks / TICKS_PER_SECOND / seconds) * 100
  return { totalPercent: pct(total), busiestThreadPercent: pct(busiest) }
}

/** Every descendant of `root` (children, grandchildren, …) whose command name is `comm`. */
export function descendantsNamed(root: number, comm: string): number[] {
  const parent = new Map<number, number>()
  const name = new Map<number, string>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const open = text.indexOf('(')
      const close = text.lastIndexOf(')')
      const fields = text.slice(close + 2).split(' ')
      parent.set(Number(entry), Number(fields[1]))
      name.set(Number(entry), text.slice(open + 1, close))
    } catch {
      // the process ended meanwhile
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 64; hops++) {
      if (p === root) return true
      p = parent.get(p)
    }
    return false
  }
  return [...name].filter(([pid, n]) => n === comm && isDescendant(pid)).map(([pid]) => pid)
}
