import { describe, expect, it } from 'vitest'
import { EtcdError } from './errors.ts'
import { decodeKvRequest } from './kv-service.ts'
import {
  alarmRefusal,
  alarmStatusText,
  applyAlarm,
  decodeAlarmRequest,
  decodeEmptyRequest,
  decodeHashKvRequest,
  decodeMoveLeaderRequest,
  encodeAlarmResponse,
  encodeHashKvResponse,
  encodeStatusResponse,
  quotaAvailable,
  quotaCost,
  type AlarmMember,
  type AlarmName,
  type AlarmSet,
} from './maintenance-service.ts'

/** A deliberately simple alarm set: a list in raise order. */
function memoryAlarms(): AlarmSet & { list: AlarmMember[] } {
  const list: AlarmMember[] = []
  const same = (a: AlarmMember, b: AlarmMember) => a.memberID === b.memberID && a.alarm === b.alarm
  return {
    list,
    get: (type: AlarmName) => list.filter((a) => type === 'NONE' || a.alarm === type),
    add: (a) => !list.some((b) => same(a, b)) && list.push(a) > 0,
    remove: (a) => {
      const i = list.findIndex((b) => same(a, b))
      if (i < 0) return false
      list.splice(i, 1)
      return true
    },
  }
}

const header = { clusterId: '1', memberId: '2', raftTerm: '3' }
const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('decoding maintenance requests as etcd 3.4 gateway does', () => {
  it.each([
    ['{"action":"ACTIVATE","memberID":"5","alarm":"NOSPACE"}', 1, '5', 'NOSPACE'],
    ['{"action":1,"memberID":5,"alarm":1}', 1, '5', 'NOSPACE'],
    ['{"action":"GET"}', 0, '0', 'NONE'],
    ['{}', 0, '0', 'NONE'],
    ['', 0, '0', 'NONE'],
    ['{"member_i_d":"7","action":"DEACTIVATE","alarm":"CORRUPT"}', 2, '0', 'CORRUPT'],
    ['{"memberID":"18446744073709551615"}', 0, '18446744073709551615', 'NONE'],
    ['{"alarm":7}', 0, '0', '7'],
  ])('AlarmRequest %s', (body, action, memberID, alarm) => {
    expect(decodeAlarmRequest(body)).toEqual({ action, memberID, alarm })
  })

  it.each([
    ['{"action":"BOGUS"}', 'unknown value "BOGUS" for enum etcdserverpb.AlarmRequest_AlarmAction'],
    ['{"alarm":"FULL"}', 'unknown value "FULL" for enum etcdserverpb.AlarmType'],
    ['{"memberID":-1}', 'json: cannot unmarshal number -1 into Go value of type uint64'],
    [
      '{"memberID":"18446744073709551616"}',
      'json: cannot unmarshal number 18446744073709551616 into Go value of type uint64',
    ],
    ['garbage', "invalid character 'g' looking for beginning of value"],
  ])("AlarmRequest %s fails with code 3 and etcd's message", (body, message) => {
    let err: unknown
    try {
      decodeAlarmRequest(body)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(EtcdError)
    expect((err as EtcdError).code).toBe(3)
    expect((err as EtcdError).message).toBe(message)
  })

  it('reads HashKV revision, MoveLeader targetID, and accepts any JSON object for the empty ones', () => {
    expect(decodeHashKvRequest('{"revision":"12"}')).toEqual({ revision: 12 })
    expect(decodeMoveLeaderRequest('{"targetID":"9"}')).toEqual({ targetID: '9' })
    expect(() => decodeEmptyRequest('{"x":1}')).not.toThrow()
    expect(() => decodeEmptyRequest('[1]')).toThrow(EtcdError)
  })
})

describe('the alarm applier', () => {
  it('activates once, lists, deactivates once, as etcd answers', () => {
    const alarms = memoryAlarms()
    const activate = { action: 1, memberID: '5', alarm: 'NOSPACE' as const }
    expect(applyAlarm(alarms, activate)).toEqual([{ memberID: '5', alarm: 'NOSPACE' }])
    // Activating again answers with the alarm that is already raised.
    expect(applyAlarm(alarms, activate)).toEqual([{ memberID: '5', alarm: 'NOSPACE' }])
    applyAlarm(alarms, { action: 1, memberID: '2', alarm: 'NONE' })
    expect(applyAlarm(alarms, { action: 0, memberID: '0', alarm: 'NONE' })).toHaveLength(2)
    expect(applyAlarm(alarms, { action: 0, memberID: '0', alarm: 'CORRUPT' })).toEqual([])
    expect(applyAlarm(alarms, { ...activate, action: 2 })).toEqual([
      { memberID: '5', alarm: 'NOSPACE' },
    ])
    expect(applyAlarm(alarms, { ...activate, action: 2 })).toEqual([])
  })

  it('encodes alarms without a header, zero fields omitted', () => {
    expect(encodeAlarmResponse([])).toBe('{}')
    expect(
      encodeAlarmResponse([
        { memberID: '5', alarm: 'NOSPACE' },
        { memberID: '2', alarm: 'NONE' },
      ]),
    ).toBe('{"alarms":[{"memberID":"5","alarm":"NOSPACE"},{"memberID":"2"}]}')
    expect(alarmStatusText({ memberID: '5', alarm: 'NOSPACE' })).toBe('memberID:5 alarm:NOSPACE ')
    expect(alarmStatusText({ memberID: '2', alarm: 'NONE' })).toBe('memberID:2 ')
  })

  // NOSPACE: etcd's capped applier; CORRUPT: the corrupt applier. Reads are never refused.
  it.each([
    ['NOSPACE', 'put', '{"key":"YQ==","value":"Yg=="}', 'database space exceeded'],
    ['NOSPACE', 'txn', '{"success":[{"requestPut":{"key":"YQ=="}}]}', 'database space exceeded'],
    ['NOSPACE', 'txn', '{"failure":[{"requestPut":{"key":"YQ=="}}]}', 'database space exceeded'],
    ['NOSPACE', 'txn', '{"success":[{"requestDeleteRange":{"key":"YQ=="}}]}', null],
    [
      'NOSPACE',
      'txn',
      '{"success":[{"requestTxn":{"success":[{"requestPut":{"key":"YQ=="}}]}}]}',
      null,
    ],
    ['NOSPACE', 'deleterange', '{"key":"YQ=="}', null],
    ['NOSPACE', 'compaction', '{"revision":"1"}', null],
    ['NOSPACE', 'range', '{"key":"YQ=="}', null],
    ['CORRUPT', 'put', '{"key":"YQ=="}', 'corrupt cluster'],
    ['CORRUPT', 'deleterange', '{"key":"YQ=="}', 'corrupt cluster'],
    ['CORRUPT', 'compaction', '{"revision":"1"}', 'corrupt cluster'],
    ['CORRUPT', 'range', '{"key":"YQ=="}', null],
    ['NONE', 'put', '{"key":"YQ=="}', null],
  ] as const)('%s refuses %s %s: %s', (alarm, route, body, refusal) => {
    const alarms = memoryAlarms()
    alarms.add({ memberID: '1', alarm })
    const err = alarmRefusal(alarms, decodeKvRequest(route, body))
    if (refusal === null) expect(err).toBeNull()
    else expect(err?.message).toContain(refusal)
  })
})

describe("etcd's quota", () => {
  it('costs 256 + key + value per put; a txn its larger branch of top-level puts', () => {
    expect(
      quotaCost(decodeKvRequest('put', JSON.stringify({ key: b64('ab'), value: b64('xyz') }))),
    ).toBe(261)
    const txn = {
      success: [
        { requestPut: { key: b64('a'), value: b64('1') } },
        { requestPut: { key: b64('b'), value: b64('2') } },
      ],
      failure: [{ requestPut: { key: b64('c'), value: b64('1234567890') } }],
    }
    expect(quotaCost(decodeKvRequest('txn', JSON.stringify(txn)))).toBe(2 * 258)
    expect(quotaCost(decodeKvRequest('deleterange', '{"key":"YQ=="}'))).toBe(0)
  })

  it.each([
    [1000, 100, 2000, true],
    [1900, 100, 2000, false], // size + cost must stay strictly below the quota
    [1899, 100, 2000, true],
    [5000, 0, 2000, true], // a request that costs nothing always passes
    [5000, 100, -1, true], // a negative quota disables it
    [2 * 1024 ** 3 - 100, 100, 0, false], // zero is etcd's default, 2 GiB
  ])('size %d + cost %d against quota %d: %s', (size, cost, quota, ok) => {
    expect(quotaAvailable(size, cost, quota)).toBe(ok)
  })
})

describe('responses', () => {
  it('StatusResponse: rpc.proto order, no-leader first among errors, zero fields omitted', () => {
    const body = encodeStatusResponse(
      {
        revision: 4,
        version: '3.4.23',
        dbSizeBytes: 20480,
        dbSizeInUseBytes: 16384,
        leader: '',
        raftCommitIndex: 9,
        raftTerm: 2,
        raftAppliedIndex: 9,
        isLearner: false,
        alarms: [{ memberID: '5', alarm: 'NOSPACE' }],
      },
      header,
    )
    expect(body).toBe(
      '{"header":{"cluster_id":"1","member_id":"2","revision":"4","raft_term":"3"},' +
        '"version":"3.4.23","dbSize":"20480","raftIndex":"9","raftTerm":"2","raftAppliedIndex":"9",' +
        '"errors":["etcdserver: no leader","memberID:5 alarm:NOSPACE "],"dbSizeInUse":"16384"}',
    )
  })

  it('HashKVResponse: hash as a number, compact_revision as a string (-1 before any compaction)', () => {
    expect(
      JSON.parse(
        encodeHashKvResponse({ hash: 7, currentRevision: 3, compactRevision: -1 }, header),
      ),
    ).toEqual({
      header: { cluster_id: '1', member_id: '2', revision: '3', raft_term: '3' },
      hash: 7,
      compact_revision: '-1',
    })
  })
})
