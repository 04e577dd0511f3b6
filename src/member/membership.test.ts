import { describe, expect, it } from 'vitest'
import { NodeSql } from '../../test/support/node-sql.ts'
import type { Status } from '../raft/index.ts'
import { Membership, nameFromPeerUrl, parsePeerUrls, type MemberRecord } from './membership.ts'
import { planChange, type LeaderView, type MemberRequest } from './membership-service.ts'
import { applyMigrations } from './migrations.ts'

function membership(): Membership {
  const sql = new NodeSql()
  applyMigrations({ sql, transactionSync: (fn) => sql.transactionSync(fn) })
  return new Membership(
    sql,
    'c',
    new Map([
      ['1', 'm1'],
      ['2', 'm2'],
      ['3', 'm3'],
    ]),
  )
}

describe('peer URLs', () => {
  // etcd's types.NewURLs: http(s) with host:port, unix(s), no path; sorted.
  it.each([
    [['http://m4:2380'], ['http://m4:2380']],
    [
      ['https://b:1', 'http://a:2'],
      ['http://a:2', 'https://b:1'],
    ],
    [['unix://sock'], ['unix://sock']],
    [['m4:2380'], undefined],
    [['http://m4'], undefined],
    [['http://m4:2380/path'], undefined],
    [['ftp://m4:21'], undefined],
    [[], undefined],
  ])('%j → %j', (urls, expected) => {
    expect(parsePeerUrls(urls)).toEqual(expected)
  })

  it('names a member by the host of its peer URL', () => {
    expect(nameFromPeerUrl('http://m4:2380')).toBe('m4')
    expect(nameFromPeerUrl('http://127.0.0.1:29999')).toBe('127.0.0.1')
    expect(nameFromPeerUrl('http://[::1]:2380')).toBe('--1')
  })
})

describe('the membership table mirrors raft', () => {
  it('bootstraps from INITIAL_CLUSTER names and applies each kind of change', () => {
    const m = membership()
    for (const id of ['1', '2', '3']) m.applyConfChange({ type: 'addNode', nodeId: id }, 1)
    expect(m.list().map((r) => [r.name, r.peerUrls, r.objectName])).toEqual([
      ['m1', ['http://m1:2380'], 'c/m1'],
      ['m2', ['http://m2:2380'], 'c/m2'],
      ['m3', ['http://m3:2380'], 'c/m3'],
    ])
    const context = JSON.stringify({
      requestId: 'r',
      name: 'm4',
      peerUrls: ['http://m4:2380'],
      objectName: 'c/m4/9',
    })
    expect(m.applyConfChange({ type: 'addLearner', nodeId: '9', context }, 5)).toEqual({
      applied: true,
    })
    expect(m.get('9')).toMatchObject({ name: 'm4', isLearner: true, objectName: 'c/m4/9' })
    // raft: addLearner leaves a voter alone; promote works on learners only.
    expect(m.applyConfChange({ type: 'addLearner', nodeId: '1' }, 6).applied).toBe(false)
    expect(m.applyConfChange({ type: 'promoteLearner', nodeId: '1' }, 6).applied).toBe(false)
    expect(m.applyConfChange({ type: 'promoteLearner', nodeId: '9' }, 6).applied).toBe(true)
    expect(m.get('9')?.isLearner).toBe(false)
    const update = JSON.stringify({ requestId: 'u', peerUrls: ['http://x:1'] })
    m.applyConfChange({ type: 'updateNode', nodeId: '9', context: update }, 7)
    expect(m.get('9')).toMatchObject({ peerUrls: ['http://x:1'], objectName: 'c/m4/9' })
    for (const id of ['1', '2', '3']) m.applyConfChange({ type: 'removeNode', nodeId: id }, 8)
    // raft keeps the last voter.
    expect(m.applyConfChange({ type: 'removeNode', nodeId: '9' }, 9).applied).toBe(false)
    expect(m.list().map((r) => r.id)).toEqual(['9'])
  })

  it('seeds itself from raft configuration for storage that predates the table', () => {
    const m = membership()
    m.seedFromConfState(['1', '2'], ['3'], 0)
    expect(m.list().map((r) => [r.name, r.isLearner])).toEqual([
      ['m1', false],
      ['m2', false],
      ['m3', true],
    ])
    m.seedFromConfState(['1'], [], 0)
    expect(m.list()).toHaveLength(3)
  })
})

const voter = (id: string): MemberRecord => ({
  id,
  name: `m${id}`,
  peerUrls: [`http://m${id}:2380`],
  objectName: `c/m${id}`,
  isLearner: false,
})

function view(options: {
  members: MemberRecord[]
  active: string[]
  match?: Record<string, number>
}): LeaderView {
  const progress: NonNullable<Status['progress']> = {}
  for (const m of options.members) {
    progress[m.id] = {
      match: options.match?.[m.id] ?? 100,
      next: 101,
      state: 'replicate',
      isLearner: m.isLearner,
      recentActive: true,
      paused: false,
      inflight: 0,
    }
  }
  return {
    clusterName: 'c',
    selfId: '1',
    members: options.members,
    raft: { progress } as Status,
    active: (id) => options.active.includes(id),
  }
}

const fails = (r: ReturnType<typeof planChange>) => ('ok' in r ? r.etcdError : 'planned')

describe("etcd's checks before a membership change", () => {
  const three = [voter('1'), voter('2'), voter('3')]

  it('adds a voter only while the started voters keep a quorum after it', () => {
    const add: MemberRequest = {
      op: 'add',
      requestId: 'a',
      peerUrls: ['http://m4:2380'],
      isLearner: false,
    }
    expect(fails(planChange(view({ members: three, active: ['2', '3'] }), add))).toBe('planned')
    // 4 voters after the add need 3 started; only 2 are.
    expect(fails(planChange(view({ members: three, active: ['2'] }), add))).toBe(
      'MemberNotEnoughStarted',
    )
    // One member growing to two is allowed (etcd's special case).
    expect(fails(planChange(view({ members: [voter('1')], active: [] }), add))).toBe('planned')
  })

  it('refuses adds while a voter is unreachable, and a second learner', () => {
    const learner: MemberRequest = {
      op: 'add',
      requestId: 'a',
      peerUrls: ['http://l:1'],
      isLearner: true,
    }
    const five = [...three, voter('4'), voter('5')]
    expect(fails(planChange(view({ members: five, active: ['2', '3', '4'] }), learner))).toBe(
      'Unhealthy',
    )
    const withLearner = [...three, { ...voter('9'), isLearner: true }]
    expect(fails(planChange(view({ members: withLearner, active: ['2', '3'] }), learner))).toBe(
      'TooManyLearners',
    )
  })

  it('removes a voter only if the rest keep a quorum, but a down member always', () => {
    const remove = (id: string): MemberRequest => ({ op: 'remove', requestId: 'r', id })
    expect(fails(planChange(view({ members: three, active: ['2', '3'] }), remove('3')))).toBe(
      'planned',
    )
    // m2 is down: removing the live m3 would leave one started voter of two.
    expect(fails(planChange(view({ members: three, active: ['3'] }), remove('3')))).toBe(
      'MemberNotEnoughStarted',
    )
    expect(fails(planChange(view({ members: three, active: ['3'] }), remove('2')))).toBe('planned')
    expect(fails(planChange(view({ members: three, active: ['2', '3'] }), remove('7')))).toBe(
      'MemberNotFound',
    )
  })

  it('promotes a learner once its match is 90 % of the leader’s', () => {
    const members = [...three, { ...voter('9'), isLearner: true }]
    const promote: MemberRequest = { op: 'promote', requestId: 'p', id: '9' }
    const at = (match: number) =>
      fails(planChange(view({ members, active: ['2', '3', '9'], match: { 9: match } }), promote))
    expect(at(89)).toBe('LearnerNotReady')
    expect(at(90)).toBe('planned')
    expect(fails(planChange(view({ members, active: ['2', '3'] }), { ...promote, id: '2' }))).toBe(
      'MemberNotLearner',
    )
  })
})
