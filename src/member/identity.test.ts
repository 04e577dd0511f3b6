import { describe, expect, it } from 'vitest'
import { clusterId, fnv1a64, identityOf, memberId } from './identity.ts'

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

describe('which member an object is', () => {
  const initial = new Set([memberId('c', 'm1')])
  it('a bootstrap member by its name, an added member by its object name', () => {
    expect(identityOf('c', initial, 'm1', 'c/m1', undefined)).toBe(memberId('c', 'm1'))
    expect(identityOf('c', initial, 'm4', 'c/m4/42', undefined)).toBe('42')
    expect(identityOf('c', initial, 'm4', undefined, '42')).toBe('42')
  })

  it('refuses contradictions instead of starting the wrong member', () => {
    expect(() => identityOf('c', initial, 'm4', 'c/m4', undefined)).toThrow(/not an initial/)
    expect(() => identityOf('c', initial, 'm4', 'c/m4/42', '43')).toThrow(/is not member/)
    expect(() => identityOf('c', initial, 'm4', 'c/m5/42', undefined)).toThrow(/is not member/)
  })
})
