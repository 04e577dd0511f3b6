// Prometheus' text exposition format (version 0.0.4) for the members' metric families, merged
// into one page with a `member` label on every sample, so one scrape of the front door sees
// every member (etcd exposes one /metrics per member process; the label stands in for the
// scrape target).
import type { MetricFamily } from '../member/metrics.ts'

/** The Content-Type Prometheus expects for this format. */
export const PROMETHEUS_TEXT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/**
 * Renders every member's families as one page: one HELP/TYPE per family (in the order first
 * seen), then each member's samples with `member="<name>"` first among the labels.
 */
export function renderMetrics(perMember: { member: string; families: MetricFamily[] }[]): string {
  const merged = new Map<string, { family: MetricFamily; lines: string[] }>()
  for (const { member, families } of perMember) {
    for (const family of families) {
      let entry = merged.get(family.name)
      if (!entry) {
        entry = { family, lines: [] }
        merged.set(family.name, entry)
      }
      for (const s of family.samples) {
        entry.lines.push(
          `${s.name}${formatLabels({ member, ...s.labels })} ${formatValue(s.value)}`,
        )
      }
    }
  }
  let out = ''
  for (const { family, lines } of merged.values()) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`
    for (const line of lines) out += line + '\n'
  }
  return out
}
