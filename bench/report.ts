// Formats results: a Markdown table (readable in a terminal, pasteable into docs/benchmarks.md).
import type { CpuUse } from './cpu.ts'
import type { LoadResult } from './load.ts'

/** One target's result in one scenario. */
export interface TargetRun {
  load: LoadResult
  /** Server CPU over the measurement window (undefined where /proc is missing). */
  cpu: CpuUse | undefined
  /** The load generator's own CPU over the whole run (warm-up included), % of one core. */
  generatorCpuPercent: number
  /** The machine's 1-minute load average when the run ended: other work skews results. */
  loadAverage: number
}

/** One row: a scenario at one connection count, measured on both targets. */
export interface Row {
  scenario: string
  connections: number
  etcd?: TargetRun
  edge?: TargetRun
  /** edge / etcd: req/s (higher is better for edge), p50 and p99 (lower is better for edge). */
  ratio?: { reqPerSec: number; p50: number; p99: number }
}

const num = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits)
const ms = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)
const ratio = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`
/** Error count, with its share of all answers when there were any (latency then excludes them). */
const errs = (r: TargetRun | undefined): string => {
  if (!r) return '–'
  const { errorCount, ok } = r.load
  if (errorCount === 0) return '0'
  const share = (errorCount / (errorCount + ok)) * 100
  return `${errorCount} (${share < 1 ? share.toFixed(1) : share.toFixed(0)}%)`
}
const cpu = (r: TargetRun | undefined): string =>
  r?.cpu ? `${num(r.cpu.totalPercent)} (${num(r.cpu.busiestThreadPercent)})` : '–'

/** The results as a Markdown table. */
export function markdownTable(rows: Row[]): string {
  const header = [
    'scenario',
    'conns',
    'etcd req/s',
    'edge req/s',
    'req/s edge/etcd',
    'etcd p50 ms',
    'edge p50 ms',
    'etcd p99 ms',
    'edge p99 ms',
    'p50 edge/etcd',
    'p99 edge/etcd',
    'errors etcd / edge',
    'CPU % etcd (busiest thread)',
    'CPU % edge (busiest thread)',
  ]
  const lines = rows.map((r) => [
    r.scenario,
    String(r.connections),
    num(r.etcd?.load.reqPerSec),
    num(r.edge?.load.reqPerSec),
    ratio(r.ratio?.reqPerSec),
    ms(r.etcd?.load.latencyMs.p50),
    ms(r.edge?.load.latencyMs.p50),
    ms(r.etcd?.load.latencyMs.p99),
    ms(r.edge?.load.latencyMs.p99),
    ratio(r.ratio?.p50),
    ratio(r.ratio?.p99),
    `${errs(r.etcd)} / ${errs(r.edge)}`,
    cpu(r.etcd),
    cpu(r.edge),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const numeric = (i: number): boolean => i >= 2
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`
  return [fmt(header), rule, ...lines.map(fmt)].join('\n')
}

/** Every error kind with a sample answer, for the rows that had errors. */
export function errorReport(rows: Row[]): string {
  const out: string[] = []
  for (const r of rows) {
    for (const [name, run] of [
      ['etcd', r.etcd],
      ['edge', r.edge],
    ] as const) {
      if (!run || (run.load.errorCount === 0 && run.load.warmupErrors === 0)) continue
      const kinds = Object.entries(run.load.errors)
        .map(([k, n]) => `${k} ×${n} (e.g. ${JSON.stringify(run.load.errorSamples[k])})`)
        .join('; ')
      out.push(
        `${r.scenario} ×${r.connections} on ${name}: ${run.load.errorCount} errors` +
          (kinds ? `: ${kinds}` : '') +
          (run.load.warmupErrors ? ` (+${run.load.warmupErrors} during warm-up)` : ''),
      )
    }
  }
  return out.join('\n')
}
