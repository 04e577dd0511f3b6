// Lock and Election requests decoded, and their answers encoded, as etcd 3.4.23's gateway does
// (the expected error texts were taken from etcd 3.4.23 on loopback).
import { describe, expect, it } from 'vitest'
import { EtcdError } from './errors.ts'
import {
  decodeConcurrencyRequest,
  encodeCampaignResponse,
  encodeLeaderResponse,
  encodeLockResponse,
} from './lock-schema.ts'

const bytes = (s: string) => new TextEncoder().encode(s)

describe('decodeConcurrencyRequest', () => {
  it('reads name and lease (int64 as string or number; unknown fields ignored)', () => {
    expect(decodeConcurrencyRequest('lock', '{"name":"bDE=","lease":"12345","bogus":1}')).toEqual({
      route: 'lock',
      request: { name: bytes('l1'), lease: 12345n },
    })
    expect(decodeConcurrencyRequest('lock', '{"lease":-1}').request).toMatchObject({ lease: -1n })
  })

  it('treats an empty body and null as an empty request', () => {
    expect(decodeConcurrencyRequest('lock', '').request).toEqual({
      name: new Uint8Array(0),
      lease: 0n,
    })
    expect(decodeConcurrencyRequest('resign', 'null').request).toEqual({ leader: undefined })
  })

  it('reads a leader key; {} is a leader key with zero fields, null is none', () => {
    const r = decodeConcurrencyRequest(
      'proclaim',
      '{"leader":{"name":"ZTE=","key":"ZTEveA==","rev":"5","lease":"1"},"value":"dg=="}',
    )
    expect(r.request).toEqual({
      leader: { name: bytes('e1'), key: bytes('e1/x'), rev: 5, lease: 1n },
      value: bytes('v'),
    })
    expect(decodeConcurrencyRequest('resign', '{"leader":{}}').request).toEqual({
      leader: { name: new Uint8Array(0), key: new Uint8Array(0), rev: 0, lease: 0n },
    })
    expect(decodeConcurrencyRequest('resign', '{"leader":null}').request).toEqual({
      leader: undefined,
    })
  })

  it.each([
    [
      'resign',
      '[]',
      'json: cannot unmarshal array into Go value of type map[string]json.RawMessage',
    ],
    [
      'resign',
      '{"leader":5}',
      'json: cannot unmarshal number into Go value of type map[string]json.RawMessage',
    ],
    ['resign', '{"leader":{"rev":"x"}}', "invalid character 'x' looking for beginning of value"],
    ['lock', 'garbage', "invalid character 'g' looking for beginning of value"],
    [
      'lock',
      '{"name":"bDE=","lease":"abc"}',
      "invalid character 'a' looking for beginning of value",
    ],
  ] as const)('%s %s fails as etcd (code 3)', (route, body, message) => {
    let err: unknown
    try {
      decodeConcurrencyRequest(route, body)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(EtcdError)
    expect(err).toMatchObject({ code: 3, message })
  })
})

describe('encoders', () => {
  const header = { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' }
  it('writes header first, then the fields, zeros omitted', () => {
    expect(encodeLockResponse(header, bytes('l1/ab'))).toBe(
      '{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"key":"bDEvYWI="}',
    )
    expect(
      encodeCampaignResponse(header, { name: bytes('e'), key: bytes('e/1'), rev: 3, lease: 1n }),
    ).toBe(
      '{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"leader":{"name":"ZQ==","key":"ZS8x","rev":"3","lease":"1"}}',
    )
    expect(encodeLeaderResponse({ revision: '3' }, { key: 'ZQ==' }, true)).toBe(
      '{"result":{"header":{"revision":"3"},"kv":{"key":"ZQ=="}}}',
    )
  })
})
