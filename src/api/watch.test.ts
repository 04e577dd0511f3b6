import { describe, expect, it } from 'vitest'
import { splitJsonValues } from './watch.ts'

describe('splitJsonValues (the HTTP watch body as a stream of JSON values)', () => {
  it.each([
    ['{"a":1}{"b":2}', ['{"a":1}', '{"b":2}'], ''],
    ['{"a":1}\n{"b":', ['{"a":1}'], '{"b":'],
    ['{"a":"}"}', ['{"a":"}"}'], ''],
    // Stray closers and scalars are values of their own, so the decoder reports etcd's error.
    [']{"a":1}', [']', '{"a":1}'], ''],
    ['}', ['}'], ''],
    [',{"a":1}', [',', '{"a":1}'], ''],
  ])('%s', (text, values, rest) => {
    expect(splitJsonValues(text)).toEqual({ values, rest })
  })
})
