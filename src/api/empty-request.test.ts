import { describe, expect, it } from 'vitest'
import { decodeEmptyRequest } from './empty-request.ts'

describe('decodeEmptyRequest (status, member list: etcd 3.4 answers)', () => {
  it.each(['', 'null', '{}', '{"x":1}', '{"linearizable":"x"}'])('accepts %j', (body) => {
    expect(() => decodeEmptyRequest(body)).not.toThrow()
  })
  it.each([
    ['{', 'unexpected EOF'],
    ['[]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
    ['"s"', 'json: cannot unmarshal string into Go value of type map[string]json.RawMessage'],
    ['12', 'json: cannot unmarshal number into Go value of type map[string]json.RawMessage'],
    ['{"x":}', "invalid character '}' looking for beginning of value"],
    [']', "invalid character ']' looking for beginning of value"],
  ])('refuses %j: %s', (body, message) => {
    expect(() => decodeEmptyRequest(body)).toThrow(expect.objectContaining({ message }))
  })
})
