// Expected messages are what etcd 3.4.23's gateway answered for the same input (curl, loopback).
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { GoDecodeError, decodeBase64Go, encodeBase64, parseGoJson } from './go-json.ts'

function decoderError(text: string): string | null {
  try {
    parseGoJson(text, 'decoder')
    return null
  } catch (e) {
    if (e instanceof GoDecodeError) return e.message
    throw e
  }
}

describe('Go JSON decoding', () => {
  // Truncation, bad tokens, bad structure.
  it.each([
    ['{', 'unexpected EOF'],
    ['{"key":', 'unexpected EOF'],
    ['{"key":"YQ==', 'unexpected EOF'],
    ['not json', "invalid character 'o' in literal null (expecting 'u')"],
    ['}', "invalid character '}' looking for beginning of value"],
    ['{"key":}', "invalid character '}' looking for beginning of value"],
    ['{"key" "a"}', "invalid character '\"' after object key"],
    ['{"key":"a",}', "invalid character '}' looking for beginning of object key string"],
    ['{"key":"a" "x":1}', "invalid character '\"' after object key:value pair"],
    ['{1:2}', "invalid character '1' looking for beginning of object key string"],
    ['[1 2]', "invalid character '2' after array element"],
    ['{"key":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"key":"\u0001"}', "invalid character '\\x01' in string literal"],
    ['{"key":"\\q"}', "invalid character 'q' in string escape code"],
    ['{"key":"\\u12x4"}', "invalid character 'x' in \\u hexadecimal character escape"],
    ['{"key":-}', "invalid character '}' in numeric literal"],
    ['{"key":1.}', "invalid character '}' after decimal point in numeric literal"],
    ['{"key":1e}', "invalid character '}' in exponent of numeric literal"],
    ["{'a':1}", "invalid character '\\'' looking for beginning of object key string"],
    // Non-ASCII: Go names the first UTF-8 byte as the rune U+00XX (etcd 3.4, bad-input fuzzer).
    ['\u00e9', "invalid character 'Ã' looking for beginning of value"],
    ['\ufffd{}', "invalid character 'ï' looking for beginning of value"],
  ])('%s → %s', (text, message) => {
    expect(decoderError(text)).toBe(message)
  })

  it('reads only the first value of a body, and an empty body is no value', () => {
    expect(parseGoJson('{"a":1}garbage', 'decoder')).toMatchObject({ t: 'object' })
    expect(parseGoJson('  \n', 'decoder')).toBeUndefined()
  })

  it('wants exactly one value when unmarshalling', () => {
    expect(() => parseGoJson('1 2', 'unmarshal')).toThrow(
      "invalid character '2' after top-level value",
    )
    expect(() => parseGoJson('', 'unmarshal')).toThrow('unexpected end of JSON input')
  })

  it('keeps number text and string escapes raw, last duplicate key wins', () => {
    const v = parseGoJson('{"n":1.50,"s":"a\\"b","n":7}', 'decoder')
    expect(v).toEqual({
      t: 'object',
      fields: new Map<string, unknown>([
        ['n', { t: 'number', raw: '7' }],
        ['s', { t: 'string', value: 'a"b', raw: 'a\\"b' }],
      ]),
    })
  })
})

describe('Go base64', () => {
  it.each([
    ['', []],
    ['YQ==', [0x61]],
    ['YWI=', [0x61, 0x62]],
    ['YWJj', [0x61, 0x62, 0x63]],
    ['YR==', [0x61]],
    ['YQ==\n', [0x61]],
    ['Y\r\nQ==', [0x61]],
  ])('decodes %j', (text, bytes) => {
    expect([...decodeBase64Go(text)]).toEqual(bytes)
  })

  // Offsets as Go's base64.StdEncoding reports them.
  it.each([
    ['!!!', 0],
    ['YQ', 0],
    ['YQ=a', 2],
    ['Y Q==', 1],
    ['YWJjZGVmZ2hp!', 12],
    ['YW-_', 2],
    ['YQ===', 4],
    ['====', 0],
    ['Y===', 1],
    ['YQ==YQ==', 4],
    ['YQ=', 3],
  ])('rejects %j at byte %i', (text, offset) => {
    expect(() => decodeBase64Go(text)).toThrow(`illegal base64 data at input byte ${offset}`)
  })

  it('round-trips any bytes', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)
      expect(encodeBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'))
      expect([...decodeBase64Go(encodeBase64(bytes))]).toEqual([...bytes])
    }
  })
})

describe('nesting', () => {
  it('accepts 10,000 levels and refuses the 10,001st, as Go', () => {
    expect(parseGoJson('['.repeat(10_000) + ']'.repeat(10_000), 'decoder')).toMatchObject({
      t: 'array',
    })
    expect(() => parseGoJson('['.repeat(10_001) + ']'.repeat(10_001), 'decoder')).toThrow(
      "invalid character '[' exceeded max depth",
    )
    expect(parseGoJson('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), 'decoder')).toMatchObject(
      {
        t: 'object',
      },
    )
  })
})

describe('base64 fast paths', () => {
  it('decode canonical base64 and encode any bytes exactly as Go does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(3), (bytes, tweak) => {
        const text = Buffer.from(bytes).toString('base64')
        expect(encodeBase64(bytes)).toBe(text)
        expect(Buffer.from(decodeBase64Go(text)).equals(Buffer.from(bytes))).toBe(true)
        // Non-zero trailing bits before the padding: Go's StdEncoding accepts them.
        if (text.endsWith('=') && tweak > 0) {
          const i = text.indexOf('=') - 1
          const alt = text.slice(0, i) + 'ABCD'[tweak]! + text.slice(i + 1)
          const withNewline = alt.slice(0, 1) + '\n' + alt.slice(1)
          expect(decodeBase64Go(alt)).toEqual(decodeBase64Go(withNewline))
        }
      }),
    )
  })
})
