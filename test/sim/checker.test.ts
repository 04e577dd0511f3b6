// The checkers must be able to fail: hand-built violating histories trigger each of them.

import { describe, expect, it } from 'vitest'
import type { Entry } from '../../src/raft/index.ts'
import type { LogView } from './checker.ts'
import { Checker, foldHash, Violation } from './checker.ts'

function e(index: number, term: number, data = `d${index}.${term}`): Entry {
  return { index, term, type: 'normal', data }
}

function view(ents: Entry[]): LogView {
  return {
    firstIndex: () => 1,
    lastIndex: () => ents.length,
    term: (i) => (i === 0 ? 0 : ents[i - 1]!.term),
    entry: (i) => ents[i - 1]!,
  }
}

function violation(f: () => void): string {
  try {
    f()
  } catch (err) {
    if (err instanceof Violation) return err.kind
    throw err
  }
  return 'none'
}

describe('safety checkers catch hand-built violations', () => {
  it('election safety: two leaders in one term', () => {
    const c = new Checker()
    c.onLeader('a', 3, () => view([]))
    expect(violation(() => c.onLeader('b', 3, () => view([])))).toBe('election safety')
  })

  it('the same leader reported twice in a term is fine', () => {
    const c = new Checker()
    c.onLeader('a', 3, () => view([]))
    expect(violation(() => c.onLeader('a', 3, () => view([])))).toBe('none')
  })

  it('log matching: same index and term, different payload', () => {
    const c = new Checker()
    c.onPersistEntries('a', [e(1, 1, 'x')], () => 0)
    expect(violation(() => c.onPersistEntries('b', [e(1, 1, 'y')], () => 0))).toBe('log matching')
  })

  it('log matching: same (index, term) after different previous terms', () => {
    const c = new Checker()
    c.onPersistEntries('a', [e(1, 1), e(2, 2, 'z')], () => 0)
    expect(violation(() => c.onPersistEntries('b', [e(1, 3), e(2, 2, 'z')], () => 0))).toBe(
      'log matching',
    )
  })

  it('state machine safety: two nodes commit different entries at one index', () => {
    const c = new Checker()
    c.onCommit('a', 0, 1, view([e(1, 1, 'x')]), 1)
    expect(violation(() => c.onCommit('b', 0, 1, view([e(1, 2, 'y')]), 2))).toBe(
      'state machine safety',
    )
  })

  it('state machine safety: a node applies something else than what was committed', () => {
    const c = new Checker()
    c.onCommit('a', 0, 1, view([e(1, 1, 'x')]), 1)
    const bad = e(1, 1, 'other')
    expect(violation(() => c.onApply('b', 0, bad, foldHash(0, bad)))).toBe('state machine safety')
  })

  it('apply order: a gap in applied indexes', () => {
    const c = new Checker()
    const x = e(3, 1)
    expect(violation(() => c.onApply('a', 1, x, foldHash(0, x)))).toBe('apply order')
  })

  it('leader completeness: a new leader lacks a committed entry', () => {
    const c = new Checker()
    c.onCommit('a', 0, 2, view([e(1, 1), e(2, 1)]), 1)
    expect(violation(() => c.onLeader('b', 2, () => view([e(1, 1)])))).toBe('leader completeness')
  })

  it('leader completeness: an entry committed later in an older term is missing from a current leader', () => {
    const c = new Checker()
    c.onLeader('b', 5, () => view([e(1, 1), e(2, 5)]))
    expect(violation(() => c.onCommit('a', 0, 2, view([e(1, 1), e(2, 4)]), 4))).toBe(
      'leader completeness',
    )
  })

  it('a stale leader of term 8 need not hold an old-term entry first committed in term 9', () => {
    const c = new Checker()
    c.onLeader('n3', 8, () => view([e(1, 1), e(2, 8)]))
    expect(violation(() => c.onCommit('n2', 0, 2, view([e(1, 1), e(2, 7)]), 9))).toBe('none')
  })

  it('commit beyond the persisted log', () => {
    const c = new Checker()
    expect(violation(() => c.onCommit('a', 0, 3, view([e(1, 1)]), 1))).toBe('commit')
  })

  it('snapshot: installed state differs from the applied state at that index', () => {
    const c = new Checker()
    const x = e(1, 1)
    c.onApply('a', 0, x, foldHash(0, x))
    expect(violation(() => c.onSnapshotInstall('b', 1, 12345))).toBe('snapshot')
  })

  it('linearizable read: a read index below a commit observed before the read began', () => {
    const c = new Checker()
    c.onCommit('a', 0, 2, view([e(1, 1), e(2, 1)]), 1)
    c.onReadStart('r1')
    expect(violation(() => c.onReadState('b', 'r1', 1))).toBe('linearizable read')
    c.onReadStart('r2')
    expect(violation(() => c.onReadState('b', 'r2', 2))).toBe('none')
  })
})
