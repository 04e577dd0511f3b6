// A small, strict parser for Prometheus' text exposition format (0.0.4), for tests: it rejects
// what a Prometheus server would reject (bad names, bad label syntax, bad values, samples of an
// undeclared or mistyped family, histograms whose buckets are not cumulative), and returns the
// samples so tests can read counters.

export interface ParsedSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface ParsedFamily {
  name: string
  help: string
  type: string
  samples: ParsedSample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`bad value ${JSON.stringify(text)} in: ${line}`)
  }
  return Number(text)
}

/** Parses `{a="x",b="y\"z"}` starting at `text[0] === '{'`; returns labels and the rest. */
function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) }
    const eq = text.indexOf('=', i)
    const name = text.slice(i, eq)
    if (eq < 0 || !LABEL_NAME.test(name) || text[eq + 1] !== '"') {
      throw new Error(`bad label at ${i} in: ${line}`)
    }
    let value = ''
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const c = text[++j]
        if (c === 'n') value += '\n'
        else if (c === '\\' || c === '"') value += c
        else throw new Error(`bad escape in: ${line}`)
      } else value += text[j]
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`)
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (text[i] !== '}') throw new Error(`expected , or } in: ${line}`)
  }
}

/** The family a sample name belongs to (histograms: _bucket, _sum, _count). */
function familyOf(name: string, families: Map<string, ParsedFamily>): ParsedFamily | undefined {
  const direct = families.get(name)
  if (direct) return direct
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  const base = m ? families.get(m[1]!) : undefined
  return base && (base.type === 'histogram' || base.type === 'summary') ? base : undefined
}

/** Parses a whole page; throws on anything malformed. */
export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>()
  if (text !== '' && !text.endsWith('\n')) throw new Error('the page must end with a newline')
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m) continue // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
      const f = families.get(name) ?? { name, help: '', type: 'untyped', samples: [] }
      if (f.samples.length > 0) throw new Error(`${kind} after samples in: ${line}`)
      if (kind === 'HELP') f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
      else {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`)
        f.type = rest
      }
      families.set(name, f)
      continue
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (!nameMatch) throw new Error(`bad sample line: ${line}`)
    const name = nameMatch[0]
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line))
    const fields = rest.trim().split(/\s+/)
    if (!rest.startsWith(' ') || fields.length < 1 || fields.length > 2) {
      throw new Error(`bad sample line: ${line}`)
    }
    const family = familyOf(name, families)
    if (!family) throw new Error(`sample of an undeclared family: ${line}`)
    family.samples.push({ name, labels, value: parseValue(fields[0]!, line) })
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

/** Buckets must be cumulative, end with +Inf, and +Inf must equal _count, per label set. */
function checkHistogram(f: ParsedFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(key) ?? { buckets: [] }
    series.set(key, entry)
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`)
      entry.buckets.push([parseValue(le, s.name), s.value])
    } else if (s.name === `${f.name}_count`) entry.count = s.value
  }
  for (const { buckets, count } of series.values()) {
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![0] <= buckets[i - 1]![0] || buckets[i]![1] < buckets[i - 1]![1]) {
        throw new Error(`${f.name}: buckets not increasing / cumulative`)
      }
    }
    const last = buckets[buckets.length - 1]
    if (!last || last[0] !== Infinity || last[1] !== count) {
      throw new Error(`${f.name}: +Inf bucket missing or not equal to _count`)
    }
  }
}

/** The value of `name` for the sample whose labels include `labels` (undefined if none). */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const family = familyOf(name, families)
  const s = family?.samples.find(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  )
  return s?.value
}

/** The sum over samples of `name` whose labels include `labels`. */
export function sampleSum(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string>,
): number {
  const family = familyOf(name, families)
  return (family?.samples ?? [])
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .reduce((sum, x) => sum + x.value, 0)
}
