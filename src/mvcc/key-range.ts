// Key spans as etcd reads them, and their SQL conditions.
//
//   range_end empty        → the single key `key`
//   range_end = "\0"       → every key >= `key` (etcd's mkGteRange); key = range_end = "\0" is all
//   otherwise              → [key, range_end), bytewise; empty when range_end <= key

/** A resolved span: one key, [from, ∞), or [from, to). */
export type KeySpan =
  | { kind: 'single'; key: Uint8Array }
  | { kind: 'from'; key: Uint8Array }
  | { kind: 'between'; key: Uint8Array; end: Uint8Array }

/** Resolves etcd's (key, range_end) pair into a span. */
export function keySpan(key: Uint8Array, rangeEnd: Uint8Array): KeySpan {
  if (rangeEnd.length === 0) return { kind: 'single', key }
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'from', key }
  return { kind: 'between', key, end: rangeEnd }
}

/** SQL condition on `column` for a span, with its bindings. Always index-usable (no functions). */
export function spanCondition(
  span: KeySpan,
  column: string,
): { where: string; bindings: Uint8Array[] } {
  switch (span.kind) {
    case 'single':
      return { where: `${column} = ?`, bindings: [span.key] }
    case 'from':
      return { where: `${column} >= ?`, bindings: [span.key] }
    case 'between':
      return { where: `${column} >= ? AND ${column} < ?`, bindings: [span.key, span.end] }
  }
}

/** Bytewise comparison, as Go's bytes.Compare (and SQLite's BLOB ordering). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

/** Whether `k` lies in the span. */
export function spanContains(span: KeySpan, k: Uint8Array): boolean {
  switch (span.kind) {
    case 'single':
      return compareBytes(k, span.key) === 0
    case 'from':
      return compareBytes(k, span.key) >= 0
    case 'between':
      return compareBytes(k, span.key) >= 0 && compareBytes(k, span.end) < 0
  }
}
