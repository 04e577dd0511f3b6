// The recorder's wire pieces: the requests it sends, how it reads etcd's answers (int64 strings,
// zero omission, a failed txn's range), and which errors count as UNKNOWN.
import { describe, expect, it } from 'vitest'
import { classifyError, clientRng, parseOutput, requestFor } from './history.ts'

const b64 = (s: string): string => Buffer.from(s).toString('base64')

describe('classifyError: may an error hide an effect?', () => {
  it.each([
    // Ambiguous: the request may have been proposed, or applied, before the error.
    [503, { code: 14, message: 'etcdserver: no leader' }, 'unknown'],
    [503, { code: 14, message: 'etcdserver: request timed out' }, 'unknown'],
    [504, { code: 4, message: 'context deadline exceeded' }, 'unknown'],
    [500, undefined, 'unknown'],
    [502, { code: 3, message: 'whatever a proxy says' }, 'unknown'],
    // Definite: rejected before anything happened.
    [400, { code: 3, message: 'etcdserver: key is not provided' }, 'failed'],
    [400, { code: 9, message: 'etcdserver: mvcc: required revision has been compacted' }, 'failed'],
    [429, { code: 8, message: 'etcdserver: too many requests' }, 'failed'],
  ] as const)('%i %j → %s', (status, json, expected) => {
    expect(classifyError(status, json)).toBe(expected)
  })
})

describe('requestFor and parseOutput speak etcd v3 JSON', () => {
  it('a CAS on VALUE puts on success and ranges the key on failure', () => {
    const r = requestFor('k', {
      kind: 'cas',
      compare: 'value',
      expected: 'a',
      expectedModRev: 5,
      value: 'b',
    })
    expect(r).toEqual({
      path: '/v3/kv/txn',
      body: {
        compare: [{ key: b64('k'), target: 'VALUE', result: 'EQUAL', value: b64('a') }],
        success: [{ request_put: { key: b64('k'), value: b64('b') } }],
        failure: [{ request_range: { key: b64('k') } }],
      },
    })
  })

  it('a CAS on MOD revision compares the revision as an int64 string', () => {
    const r = requestFor('k', {
      kind: 'cas',
      compare: 'mod',
      expected: null,
      expectedModRev: 0,
      value: 'b',
    })
    expect((r.body as { compare: unknown[] }).compare).toEqual([
      { key: b64('k'), target: 'MOD', result: 'EQUAL', mod_revision: '0' },
    ])
  })

  it('reads value and mod revision, and an absent key as null at revision 0', () => {
    const kv = { key: b64('k'), value: b64('v'), mod_revision: '7', create_revision: '3' }
    expect(
      parseOutput({ kind: 'get' }, { header: { revision: '9' }, kvs: [kv], count: '1' }),
    ).toEqual({ output: { kind: 'get', value: 'v', modRev: 7 }, revision: 9 })
    expect(parseOutput({ kind: 'get' }, { header: { revision: '9' } })).toEqual({
      output: { kind: 'get', value: null, modRev: 0 },
      revision: 9,
    })
  })

  it('a failed txn (succeeded omitted) reports what its failure branch read', () => {
    const input = {
      kind: 'cas',
      compare: 'value',
      expected: 'a',
      expectedModRev: 0,
      value: 'b',
    } as const
    const failed = {
      header: { revision: '12' },
      responses: [
        { response_range: { header: {}, kvs: [{ value: b64('z'), mod_revision: '11' }] } },
      ],
    }
    expect(parseOutput(input, failed).output).toEqual({
      kind: 'cas',
      succeeded: false,
      current: 'z',
      currentModRev: 11,
    })
    const succeeded = { header: { revision: '13' }, succeeded: true, responses: [{}] }
    expect(parseOutput(input, succeeded)).toEqual({
      output: { kind: 'cas', succeeded: true, current: 'b', currentModRev: 13 },
      revision: 13,
    })
  })
})

describe('seeded schedules', () => {
  it('each client draws the same sequence for the same seed, and different clients differ', () => {
    const draw = (seed: number, c: number): number[] =>
      Array.from(
        { length: 8 },
        (
          (rng) => () =>
            rng.int(1000)
        )(clientRng(seed, c)),
      )
    expect(draw(42, 3)).toEqual(draw(42, 3))
    expect(draw(42, 3)).not.toEqual(draw(42, 4))
    expect(draw(42, 3)).not.toEqual(draw(43, 3))
  })
})
