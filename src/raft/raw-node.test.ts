// The RawNode contract the member relies on: bootstrap, Ready contents and ordering, advance,
// status, typed errors, and the describe helpers.

import { describe, expect, it } from 'vitest'
import { newNode, TestNetwork } from '../../test/sim/harness.ts'
import { describeEntry, describeMessage, describeReady } from './describe.ts'
import { ProposalDroppedError } from './errors.ts'
import { newMessage } from './messages.ts'
import { RawNode } from './raw-node.ts'
import { createRng } from './rng.ts'
import { MemoryStorage } from './storage.ts'

describe('RawNode bootstrap', () => {
  it('the first Ready persists one committed conf-change entry per peer at term 1', () => {
    const n = newNode('a', { peers: ['a', 'b', 'c'] })
    expect(n.rn.hasReady()).toBe(true)
    const rd = n.rn.ready()
    expect(rd.entries.map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, 'confChange'],
      [2, 1, 'confChange'],
      [3, 1, 'confChange'],
    ])
    expect(JSON.parse(rd.entries[0]!.data)).toEqual({ type: 'addNode', nodeId: 'a' })
    expect(rd.hardState).toEqual({ term: 1, vote: '', commit: 3 })
    expect(rd.committedEntries).toHaveLength(3)
    expect(rd.mustSync).toBe(true)
    expect(n.rn.status().config).toEqual({ voters: ['a', 'b', 'c'], learners: [] })
  })

  it('is ignored when storage already holds state (restart)', () => {
    const storage = new MemoryStorage()
    storage.append([{ term: 1, index: 1, type: 'normal', data: '' }])
    storage.setHardState({ term: 1, vote: '', commit: 1 })
    const rn = new RawNode({ id: 'a', peers: ['a', 'b'], storage, rng: createRng(1) })
    expect(rn.status().config.voters).toEqual([])
    expect(rn.status().term).toBe(1)
  })

  it('rejects the empty id', () => {
    expect(() => new RawNode({ id: '', storage: new MemoryStorage(), rng: createRng(1) })).toThrow(
      /id/,
    )
  })

  it('validates heartbeat < election ticks', () => {
    expect(
      () =>
        new RawNode({
          id: 'a',
          storage: new MemoryStorage(),
          rng: createRng(1),
          electionTicks: 2,
          heartbeatTicks: 2,
        }),
    ).toThrow(/election tick/)
  })
})

describe('Ready / advance', () => {
  it('hands out messages, entries and committed entries once, then is quiet', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'])
    nw.campaign('a')
    const a = nw.node('a')
    a.rn.propose('x')
    const rd = a.rn.ready()
    expect(rd.entries.map((e) => e.data)).toEqual(['x'])
    expect(rd.messages.filter((m) => m.type === 'MsgApp')).toHaveLength(2)
    a.storage.append(rd.entries)
    a.rn.advance()
    expect(a.rn.hasReady()).toBe(false)
  })

  it('asserts when ready() is called twice without advance()', () => {
    const n = newNode('a', { peers: ['a'] })
    n.rn.ready()
    expect(() => n.rn.ready()).toThrow(/advance/)
  })

  it('mustSync is set when term or vote changes, not for commit-only changes', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'])
    const b = nw.node('b')
    b.rn.step(newMessage({ type: 'MsgHeartbeat', from: 'a', to: 'b', term: 5, commit: 0 }))
    const rd = b.rn.ready()
    expect(rd.hardState?.term).toBe(5)
    expect(rd.mustSync).toBe(true)
    b.rn.advance()
  })

  it('softState reports leader and role changes', () => {
    const nw = TestNetwork.bootstrap(['a'])
    const a = nw.node('a')
    a.rn.campaign()
    const rd = a.rn.ready()
    expect(rd.softState).toEqual({ lead: 'a', state: 'leader' })
    a.rn.advance()
  })

  it('messages are plain JSON (round-trip unchanged)', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'])
    nw.campaign('a')
    nw.node('a').rn.propose('payload')
    for (const m of nw.node('a').rn.ready().messages)
      expect(JSON.parse(JSON.stringify(m))).toEqual(m)
  })

  it('a local message type cannot be stepped from the network', () => {
    const n = newNode('a', { peers: ['a'] })
    expect(() => n.rn.step(newMessage({ type: 'MsgHup', from: 'b', to: 'a' }))).toThrow(
      /local message/,
    )
  })

  it('a forwarded proposal the leader cannot take is dropped without throwing', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'])
    const b = nw.node('b')
    expect(() =>
      b.rn.step(
        newMessage({
          type: 'MsgProp',
          from: 'a',
          to: 'b',
          entries: [{ term: 0, index: 0, type: 'normal', data: 'x' }],
        }),
      ),
    ).not.toThrow()
  })

  it('propose on a candidate throws ProposalDroppedError', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'], { preVote: false })
    nw.isolate('a')
    nw.campaign('a')
    expect(() => nw.node('a').rn.propose('x')).toThrow(ProposalDroppedError)
  })
})

describe('status', () => {
  it('reports lead/state everywhere and progress only on the leader', () => {
    const nw = TestNetwork.bootstrap(['a', 'b', 'c'])
    nw.campaign('a')
    const sa = nw.node('a').rn.status()
    const sb = nw.node('b').rn.status()
    expect(sa).toMatchObject({ id: 'a', lead: 'a', state: 'leader' })
    expect(sb).toMatchObject({ id: 'b', lead: 'a', state: 'follower' })
    expect(Object.keys(sa.progress ?? {})).toEqual(['a', 'b', 'c'])
    expect(sa.progress?.['b']?.state).toBe('replicate')
    expect(sb.progress).toBeUndefined()
    expect(JSON.parse(JSON.stringify(sa))).toEqual(sa)
  })
})

describe('describe helpers', () => {
  it('renders entries, messages and Ready as one-liners', () => {
    expect(describeEntry({ term: 2, index: 7, type: 'normal', data: 'put a' })).toBe(
      '2/7 EntryNormal "put a"',
    )
    expect(describeEntry({ term: 2, index: 8, type: 'normal', data: '' })).toBe('2/8 EntryNormal')
    const m = newMessage({
      type: 'MsgApp',
      from: 'a',
      to: 'b',
      term: 2,
      logTerm: 1,
      index: 5,
      commit: 4,
      entries: [{ term: 2, index: 6, type: 'normal', data: 'x' }],
    })
    expect(describeMessage(m)).toBe(
      'a->b MsgApp Term:2 Log:1/5 Commit:4 Entries:[2/6 EntryNormal "x"]',
    )
    const n = newNode('a', { peers: ['a'] })
    const line = describeReady(n.rn.ready())
    expect(line).toContain('HardState Term:1 Vote:- Commit:1')
    expect(line).toContain('CommittedEntries:[1/1 EntryConfChange')
    expect(line).not.toContain('\n')
  })
})
