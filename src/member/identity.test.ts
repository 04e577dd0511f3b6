import { describe, expect, it } from 'vitest'
import { clusterId, fnv1a64, memberId } from './identity.ts'

describe('member and cluster IDs', () => {
  it('FNV-1a 64 matches the published test vectors', () => {
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n)
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn)
    expect(fnv1a64('foobar')).toBe(0x85944171f73967e8n)
  })

  it('are uint64 decimal strings, stable and distinct per name', () => {
    const a = memberId('default', 'm1')
    expect(a).toMatch(/^[1-9][0-9]*$/)
    expect(BigInt(a) < 2n ** 64n).toBe(true)
    expect(memberId('default', 'm1')).toBe(a)
    expect(memberId('default', 'm2')).not.toBe(a)
    expect(memberId('other', 'm1')).not.toBe(a)
    expect(clusterId('default')).not.toBe(clusterId('other'))
  })
})
