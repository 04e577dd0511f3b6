// JSON as etcd 3.4's grpc-gateway reads it: Go's encoding/json scanner (json.Decoder for the
// request body, json.Unmarshal for the quoted int64s jsonpb re-parses) and Go's base64. We parse
// ourselves, not with JSON.parse, so that bad input gets the very error text etcd returns
// ("unexpected EOF", "invalid character 'x' looking for beginning of value", "illegal base64 data
// at input byte 3") and so that numbers keep their source text ("cannot unmarshal number 1.5").

/** A parsed JSON value that remembers what Go's decoder needs. Duplicate object keys: last wins. */
export type GoJson =
  | { t: 'object'; fields: Map<string, GoJson> }
  | { t: 'array'; items: GoJson[] }
  | { t: 'string'; value: string; raw: string }
  | { t: 'number'; raw: string }
  | { t: 'bool'; value: boolean }
  | { t: 'null' }

/** A decoding failure, carrying the exact message etcd's gateway would return. */
export class GoDecodeError extends Error {}

/**
 * Parses like Go. `decoder` mode (the request body) reads the first JSON value and ignores what
 * follows, and reports truncation as "unexpected EOF"; `unmarshal` mode wants exactly one value
 * ("after top-level value", "unexpected end of JSON input"). Returns undefined for a body with no
 * value at all (io.EOF, which the gateway treats as an empty request).
 */
export function parseGoJson(text: string, mode: 'decoder' | 'unmarshal'): GoJson | undefined {
  const p = new Parser(text, mode)
  p.skipSpace()
  if (p.atEnd()) {
    if (mode === 'decoder') return undefined
    throw new GoDecodeError('unexpected end of JSON input')
  }
  const value = p.value()
  if (mode === 'unmarshal') {
    p.skipSpace()
    if (!p.atEnd()) throw p.invalid('after top-level value')
  }
  return value
}

/** An open container while parsing. */
type Frame =
  { kind: 'object'; fields: Map<string, GoJson>; key: string } | { kind: 'array'; items: GoJson[] }

/** Go's scanner refuses JSON nested deeper than this (maxNestingDepth). */
const MAX_NESTING_DEPTH = 10_000

class Parser {
  private i = 0
  private depth = 0
  constructor(
    private readonly s: string,
    private readonly mode: 'decoder' | 'unmarshal',
  ) {}

  atEnd(): boolean {
    return this.i >= this.s.length
  }

  skipSpace(): void {
    while (this.i < this.s.length) {
      const c = this.s[this.i]
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') break
      this.i++
    }
  }

  eof(): GoDecodeError {
    return new GoDecodeError(
      this.mode === 'decoder' ? 'unexpected EOF' : 'unexpected end of JSON input',
    )
  }

  invalid(context: string): GoDecodeError {
    return new GoDecodeError(`invalid character ${quoteChar(this.s, this.i)} ${context}`)
  }

  private peek(): string {
    if (this.atEnd()) throw this.eof()
    return this.s[this.i]!
  }

  /** One JSON value. Iterative, so 10,000 levels of nesting (Go's limit) fit on any stack. */
  value(): GoJson {
    const stack: Frame[] = []
    for (;;) {
      this.skipSpace()
      let v = this.openOrScalar(stack)
      if (v === null) continue // entered a non-empty container: parse its first element
      // A complete value: hand it to its container, closing every container it completes.
      for (;;) {
        const top = stack[stack.length - 1]
        if (top === undefined) return v
        if (top.kind === 'array') top.items.push(v)
        else top.fields.set(top.key, v)
        this.skipSpace()
        const c = this.peek()
        if (c === ',') {
          this.i++
          if (top.kind === 'object') top.key = this.objectKey()
          break
        }
        if (top.kind === 'array' && c === ']') {
          v = this.close(stack, { t: 'array', items: top.items })
          continue
        }
        if (top.kind === 'object' && c === '}') {
          v = this.close(stack, { t: 'object', fields: top.fields })
          continue
        }
        throw this.invalid(
          top.kind === 'array' ? 'after array element' : 'after object key:value pair',
        )
      }
    }
  }

  /** A scalar or empty container (returned), or a container entered on `stack` (null). */
  private openOrScalar(stack: Frame[]): GoJson | null {
    const c = this.peek()
    if (c === '{' || c === '[') {
      if (++this.depth > MAX_NESTING_DEPTH) throw this.invalid('exceeded max depth')
      this.i++
      this.skipSpace()
      if (c === '{') {
        if (this.peek() === '}') return this.close(null, { t: 'object', fields: new Map() })
        stack.push({ kind: 'object', fields: new Map(), key: this.objectKey() })
      } else {
        if (this.peek() === ']') return this.close(null, { t: 'array', items: [] })
        stack.push({ kind: 'array', items: [] })
      }
      return null
    }
    if (c === '"') return this.string()
    if (c === '-' || (c >= '0' && c <= '9')) return this.number()
    if (c === 't') return this.literal('true', { t: 'bool', value: true })
    if (c === 'f') return this.literal('false', { t: 'bool', value: false })
    if (c === 'n') return this.literal('null', { t: 'null' })
    throw this.invalid('looking for beginning of value')
  }

  /** Consumes a container's closing bracket. */
  private close(stack: Frame[] | null, v: GoJson): GoJson {
    this.i++
    this.depth--
    stack?.pop()
    return v
  }

  /** `"key" :` of an object member. */
  private objectKey(): string {
    this.skipSpace()
    if (this.peek() !== '"') throw this.invalid('looking for beginning of object key string')
    const key = this.string()
    this.skipSpace()
    if (this.peek() !== ':') throw this.invalid('after object key')
    this.i++
    return key.t === 'string' ? key.value : ''
  }

  private string(): GoJson {
    const start = ++this.i
    let value = ''
    for (;;) {
      const c = this.peek()
      if (c === '"') {
        const raw = this.s.slice(start, this.i)
        this.i++
        return { t: 'string', value, raw }
      }
      if (c === '\\') {
        this.i++
        const e = this.peek()
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        }
        if (e in simple) {
          value += simple[e]
          this.i++
          continue
        }
        if (e !== 'u') throw this.invalid('in string escape code')
        this.i++
        let code = 0
        for (let k = 0; k < 4; k++) {
          const h = this.peek()
          if (!/[0-9a-fA-F]/.test(h)) throw this.invalid('in \\u hexadecimal character escape')
          code = code * 16 + parseInt(h, 16)
          this.i++
        }
        value += String.fromCharCode(code)
        continue
      }
      if (c < ' ') throw this.invalid('in string literal')
      value += c
      this.i++
    }
  }

  private number(): GoJson {
    const start = this.i
    const digit = (): boolean => !this.atEnd() && this.s[this.i]! >= '0' && this.s[this.i]! <= '9'
    if (this.s[this.i] === '-') {
      this.i++
      if (!digit()) {
        if (this.atEnd()) throw this.eof()
        throw this.invalid('in numeric literal')
      }
    }
    if (this.s[this.i] === '0') this.i++
    else while (digit()) this.i++
    if (this.s[this.i] === '.') {
      this.i++
      if (!digit()) {
        if (this.atEnd()) throw this.eof()
        throw this.invalid('after decimal point in numeric literal')
      }
      while (digit()) this.i++
    }
    if (this.s[this.i] === 'e' || this.s[this.i] === 'E') {
      this.i++
      if (this.s[this.i] === '+' || this.s[this.i] === '-') this.i++
      if (!digit()) {
        if (this.atEnd()) throw this.eof()
        throw this.invalid('in exponent of numeric literal')
      }
      while (digit()) this.i++
    }
    return { t: 'number', raw: this.s.slice(start, this.i) }
  }

  private literal(word: string, value: GoJson): GoJson {
    for (let k = 0; k < word.length; k++) {
      if (this.atEnd()) throw this.eof()
      if (this.s[this.i] !== word[k])
        throw this.invalid(`in literal ${word} (expecting '${word[k]}')`)
      this.i++
    }
    return value
  }
}

/** Go's quoteChar: how the scanner names the offending byte. */
function quoteChar(s: string, i: number): string {
  const c = s[i] ?? ''
  if (c === "'") return `'\\''`
  if (c === '"') return `'"'`
  const code = c.codePointAt(0) ?? 0
  if (code >= 0x80) {
    // Go quotes the first byte of the character's UTF-8 encoding as if it were the rune U+00XX
    // (strconv.Quote(string(c)) on a byte): printable Latin-1 as itself, the rest as \u00XX.
    // Measured with etcd 3.4: byte 0xEF gives 'ï', 0xFC 'ü'.
    const first = new TextEncoder().encode(String.fromCodePoint(code))[0] ?? 0
    const printable = first >= 0xa1 && first !== 0xad
    return printable ? `'${String.fromCharCode(first)}'` : `'\\u00${first.toString(16)}'`
  }
  const named: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    9: '\\t',
    10: '\\n',
    11: '\\v',
    12: '\\f',
    13: '\\r',
  }
  if (named[code] !== undefined) return `'${named[code]}'`
  if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, '0')}'`
  if (c === '\\') return `'\\\\'`
  return `'${c}'`
}

/** Go's %q for a short string (enum names in error messages). */
export function goQuote(s: string): string {
  return JSON.stringify(s)
}

/** The JSON kind Go names in "cannot unmarshal <kind> into Go value of type …". */
export function goKind(node: GoJson): string {
  switch (node.t) {
    case 'object':
      return 'object'
    case 'array':
      return 'array'
    case 'string':
      return 'string'
    case 'number':
      return 'number'
    case 'bool':
      return 'bool'
    case 'null':
      return 'null'
  }
}

// ---- base64, as Go's base64.StdEncoding ---------------------------------------------------------

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const DECODE_MAP = (() => {
  const m = new Int16Array(256).fill(-1)
  for (let i = 0; i < ALPHABET.length; i++) m[ALPHABET.charCodeAt(i)] = i
  return m
})()

/**
 * Decodes standard, padded base64 exactly as Go's base64.StdEncoding.Decode, which is what
 * encoding/json uses for []byte: newlines are skipped, non-zero trailing bits are accepted, and a
 * failure names the byte offset Go names ("illegal base64 data at input byte N").
 */
export function decodeBase64Go(text: string): Uint8Array {
  // Fast path for canonical input (no newlines, padding only at the end): there the platform's
  // decoder gives exactly Go's bytes, trailing bits included. This runs for every key and value
  // of every request, in the front door and again on every member.
  if (text.length % 4 === 0 && CANONICAL_BASE64.test(text)) return fromBinary(atob(text))
  const src = new TextEncoder().encode(text)
  const out: number[] = []
  let si = 0
  while (si < src.length) {
    const dbuf = [0, 0, 0, 0]
    let dlen = 4
    let done = false
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Uint8Array.from(out)
        throw corrupt(si - j)
      }
      const c = src[si]!
      si++
      const d = DECODE_MAP[c]!
      if (d >= 0) {
        dbuf[j] = d
        continue
      }
      if (c === 0x0a || c === 0x0d) {
        j--
        continue
      }
      if (c !== 0x3d || j < 2) throw corrupt(si - 1)
      if (j === 2) {
        while (si < src.length && (src[si] === 0x0a || src[si] === 0x0d)) si++
        if (si === src.length) throw corrupt(src.length)
        if (src[si] !== 0x3d) throw corrupt(si - 1)
        si++
      }
      while (si < src.length && (src[si] === 0x0a || src[si] === 0x0d)) si++
      if (si < src.length) throw corrupt(si)
      dlen = j
      done = true
      break
    }
    const val = (dbuf[0]! << 18) | (dbuf[1]! << 12) | (dbuf[2]! << 6) | dbuf[3]!
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff]
    for (let k = 0; k < dlen - 1; k++) out.push(bytes[k]!)
    if (done) break
  }
  return Uint8Array.from(out)
}

const CANONICAL_BASE64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function fromBinary(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

function corrupt(offset: number): GoDecodeError {
  return new GoDecodeError(`illegal base64 data at input byte ${offset}`)
}

/** Standard padded base64, as Go's encoding/json writes []byte. */
export function encodeBase64(bytes: Uint8Array): string {
  if (bytes.length > 48) {
    // Long values: the platform's encoder over a binary string (same alphabet and padding).
    let binary = ''
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
    }
    return btoa(binary)
  }
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!
    const b1 = bytes[i + 1]
    const b2 = bytes[i + 2]
    const n = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0)
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!
    out += b1 === undefined ? '=' : ALPHABET[(n >> 6) & 63]!
    out += b2 === undefined ? '=' : ALPHABET[n & 63]!
  }
  return out
}
