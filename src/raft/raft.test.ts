// Behaviour of the raft state machine, driven through RawNode over a synchronous test network.
// Names follow the Raft paper/thesis; many cases mirror etcd's raft_test.go and raft_paper_test.go.

import { describe, expect, it } from 'vitest'
import { logTerms, newNode, storageWithTerms, TestNetwork } from '../../test/sim/harness.ts'
import { ProposalDroppedError } from './errors.ts'
import { newMessage } from './messages.ts'
import { MemoryStorage } from './storage.ts'

const abc = ['a', 'b', 'c']

describe('leader election (paper §5.2)', () => {
  it('elects the node that campaigns in a healthy 3-node cluster', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    expect(nw.leaders()).toEqual(['a'])
    expect(nw.node('b').rn.status().lead).toBe('a')
    expect(nw.node('a').rn.status().term).toBe(2)
  })

  it('elects a leader by election timeout alone', () => {
    const nw = TestNetwork.bootstrap(abc)
    for (let t = 0; t < 40 && nw.leaders().length === 0; t++) for (const id of abc) nw.tick(id)
    expect(nw.leaders()).toHaveLength(1)
  })

  it('a single-voter cluster elects itself at once and commits alone', () => {
    const nw = TestNetwork.bootstrap(['a'])
    nw.campaign('a')
    expect(nw.leaders()).toEqual(['a'])
    nw.propose('a', 'x')
    expect(nw.node('a').applied.map((e) => e.data)).toContain('x')
  })

  it('a candidate without a quorum does not become leader', () => {
    const nw = TestNetwork.bootstrap(abc, { preVote: false })
    nw.isolate('a')
    nw.campaign('a')
    expect(nw.node('a').rn.status().state).toBe('candidate')
    expect(nw.leaders()).toEqual([])
  })

  it('randomizes the election timeout within [electionTicks, 2*electionTicks)', () => {
    const n = newNode('a', { peers: ['a'] })
    const seen = new Set<number>()
    for (let i = 0; i < 200; i++) {
      n.rn.raft.becomeFollower(n.rn.raft.term + 1, '')
      seen.add(n.rn.raft.randomizedElectionTimeout)
    }
    for (const t of seen) expect(t >= 10 && t < 20).toBe(true)
    expect(seen.size).toBeGreaterThan(5)
  })
})

describe('vote counting (paper §5.2, Figure 2 RequestVote)', () => {
  // [voters, responses from the other voters in order (g = grant, r = reject), expected]
  // The candidate always votes for itself.
  it.each([
    [1, '', 'leader'],
    [3, 'g', 'leader'],
    [3, 'r', 'candidate'],
    [3, 'rg', 'leader'],
    [3, 'rr', 'follower'],
    [5, 'g', 'candidate'],
    [5, 'gg', 'leader'],
    [5, 'rgr', 'candidate'],
    [5, 'rgrg', 'leader'],
    [5, 'rrr', 'follower'],
    [7, 'gggrrr', 'leader'],
    [7, 'rrrg', 'candidate'],
    [7, 'rrrr', 'follower'],
  ] as const)('%i voters, responses %j → %s', (n, responses, want) => {
    const ids = Array.from({ length: n }, (_, i) => `n${i}`)
    const node = newNode('n0', {
      storage: new MemoryStorage({ voters: ids, learners: [] }),
      preVote: false,
    })
    node.rn.campaign()
    ;[...responses].forEach((r, i) => {
      node.rn.step(
        newMessage({
          type: 'MsgVoteResp',
          from: `n${i + 1}`,
          to: 'n0',
          term: 1,
          reject: r === 'r',
        }),
      )
    })
    expect(node.rn.status().state).toBe(want)
  })

  it('counts only the first vote from each node', () => {
    const node = newNode('a', {
      storage: new MemoryStorage({ voters: ['a', 'b', 'c', 'd', 'e'], learners: [] }),
      preVote: false,
    })
    node.rn.campaign()
    for (let k = 0; k < 3; k++)
      node.rn.step(newMessage({ type: 'MsgVoteResp', from: 'b', to: 'a', term: 1 }))
    expect(node.rn.status().state).toBe('candidate')
  })

  // [existing vote in term, candidate, granted?]
  it.each([
    ['', 'b', true],
    ['b', 'b', true],
    ['c', 'b', false],
  ])(
    'a follower that voted %j in this term, asked by %s, grants=%s (one vote per term)',
    (vote, cand, granted) => {
      const s = new MemoryStorage({ voters: abc, learners: [] })
      s.setHardState({ term: 1, vote, commit: 0 })
      const n = newNode('a', { storage: s, checkQuorum: false })
      n.rn.step(newMessage({ type: 'MsgVote', from: cand, to: 'a', term: 1, index: 5, logTerm: 1 }))
      const rd = n.rn.ready()
      const resp = rd.messages.find((m) => m.type === 'MsgVoteResp')
      expect(resp?.reject).toBe(!granted)
      if (granted) expect(rd.hardState?.vote ?? n.rn.status().vote).toBe(cand)
    },
  )

  // Election restriction (§5.4.1): [voter log terms, candidate last index, candidate last term, granted]
  it.each([
    [[1, 1], 2, 1, true],
    [[1, 1], 1, 1, false],
    [[1, 2], 5, 1, false],
    [[1, 2], 1, 3, true],
    [[1, 2], 2, 2, true],
    [[1, 2], 3, 2, true],
  ])(
    'a voter with log terms %j votes for a candidate at (%i, term %i): %s',
    (terms, idx, lt, granted) => {
      const n = newNode('a', { storage: storageWithTerms(terms, abc), checkQuorum: false })
      n.rn.step(
        newMessage({ type: 'MsgVote', from: 'b', to: 'a', term: 5, index: idx, logTerm: lt }),
      )
      const resp = n.rn.ready().messages.find((m) => m.type === 'MsgVoteResp')
      expect(resp?.reject).toBe(!granted)
    },
  )
})

describe('pre-vote and check-quorum (thesis §9.6, §6.2)', () => {
  it('a partitioned node does not inflate its term with pre-vote, and rejoins without disruption', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    const term = nw.node('a').rn.status().term
    nw.isolate('c')
    for (let i = 0; i < 50; i++) nw.tick('c')
    expect(nw.node('c').rn.status().term).toBe(term)
    expect(nw.node('c').rn.status().state).toBe('preCandidate')
    nw.recover()
    for (let i = 0; i < 3; i++) nw.tick('a')
    expect(nw.leaders()).toEqual(['a'])
    expect(nw.node('a').rn.status().term).toBe(term)
    expect(nw.node('c').rn.status().lead).toBe('a')
  })

  it('without pre-vote a rejoining partitioned node forces a new term', () => {
    const nw = TestNetwork.bootstrap(abc, { preVote: false, checkQuorum: false })
    nw.campaign('a')
    const term = nw.node('a').rn.status().term
    nw.isolate('c')
    for (let i = 0; i < 50; i++) nw.tick('c')
    expect(nw.node('c').rn.status().term).toBeGreaterThan(term)
    nw.recover()
    // c's next election reaches a with a higher term; a must step down to it.
    for (let i = 0; i < 30 && nw.node('a').rn.status().term === term; i++) nw.tick('c')
    expect(nw.node('a').rn.status().term).toBeGreaterThan(term)
  })

  it('leader steps down when it loses the quorum', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('a')
    for (let i = 0; i < 21; i++) nw.tick('a')
    expect(nw.node('a').rn.status().state).toBe('follower')
    expect(nw.node('a').rn.status().lead).toBe('')
  })

  it('leader keeps leading while a quorum answers heartbeats', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 50; i++) nw.tick('a')
    expect(nw.leaders()).toEqual(['a'])
  })

  it('a follower in its leader lease ignores vote requests from a higher term', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    const b = nw.node('b')
    b.rn.step(newMessage({ type: 'MsgVote', from: 'c', to: 'b', term: 10, index: 100, logTerm: 9 }))
    expect(b.rn.status().term).toBe(2)
    expect(b.rn.status().lead).toBe('a')
  })

  it('a stale leader learns the new term from a rejected heartbeat and steps down', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('a')
    // b and c elect b after their lease expires.
    for (let i = 0; i < 30 && !nw.leaders().includes('b'); i++) {
      nw.tick('c')
      nw.tick('b')
    }
    expect(nw.node('b').rn.status().state).toBe('leader')
    nw.recover()
    nw.tick('a') // a heartbeats at its old term; b/c answer with their term
    expect(nw.node('a').rn.status().state).toBe('follower')
    expect(nw.node('a').rn.status().term).toBe(nw.node('b').rn.status().term)
  })
})

describe('log replication (paper §5.3)', () => {
  it('commits a proposal once a majority stores it and every node applies it', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'hello')
    for (const id of abc) expect(nw.node(id).applied.map((e) => e.data)).toContain('hello')
  })

  it('commits with one follower down, and the follower catches up later', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 5; i++) nw.propose('a', `v${i}`)
    expect(nw.node('a').applied.map((e) => e.data)).toContain('v4')
    expect(nw.node('c').applied.map((e) => e.data)).not.toContain('v0')
    nw.recover()
    nw.tick('a')
    expect(nw.node('c').applied.map((e) => e.data)).toEqual(nw.node('a').applied.map((e) => e.data))
  })

  it('does not commit without a majority', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    const before = nw.node('a').rn.status().commit
    nw.isolate('a')
    nw.node('a').rn.propose('lost')
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').rn.status().commit).toBe(before)
  })

  it('a follower forwards proposals to the leader', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('b', 'via-b')
    expect(nw.node('a').applied.map((e) => e.data)).toContain('via-b')
  })

  it('a follower with no leader throws ProposalDroppedError', () => {
    const nw = TestNetwork.bootstrap(abc)
    expect(() => nw.node('b').rn.propose('x')).toThrow(ProposalDroppedError)
  })

  it('a leader transferring leadership drops proposals', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    nw.node('a').rn.transferLeader('c')
    expect(() => nw.node('a').rn.propose('x')).toThrow(ProposalDroppedError)
  })

  it('a leader over maxUncommittedEntriesSize drops proposals until entries commit', () => {
    const nw = TestNetwork.bootstrap(abc, { maxUncommittedEntriesSize: 10 })
    nw.campaign('a')
    nw.isolate('a')
    const a = nw.node('a')
    a.rn.propose('12345678')
    expect(() => a.rn.propose('12345678')).toThrow(ProposalDroppedError)
    nw.handleReady(a)
    nw.recover()
    nw.settle()
    nw.tick('a')
    expect(() => nw.propose('a', 'fits-again')).not.toThrow()
  })

  it('batches many entries per MsgApp and respects maxSizePerMsg', () => {
    const nw = TestNetwork.bootstrap(abc, { maxSizePerMsg: 200 })
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 30; i++) nw.propose('a', `entry-${i}`.padEnd(40, '.'))
    nw.recover()
    nw.delivered.length = 0
    nw.tick('a')
    const apps = nw.delivered.filter(
      (m) => m.type === 'MsgApp' && m.to === 'c' && m.entries.length > 0,
    )
    expect(apps.length).toBeGreaterThan(1)
    for (const m of apps) {
      const bytes = m.entries.reduce((s, e) => s + e.data.length + 16, 0)
      expect(m.entries.length === 1 || bytes <= 200).toBe(true)
    }
    expect(Math.max(...apps.map((m) => m.entries.length))).toBeGreaterThan(1)
    expect(nw.node('c').applied.length).toBe(nw.node('a').applied.length)
  })

  it('pipelines MsgApps up to maxInflightMsgs without waiting for acks', () => {
    const nw = TestNetwork.bootstrap(abc, { maxInflightMsgs: 3 })
    nw.campaign('a')
    const a = nw.node('a')
    nw.ignore('MsgAppResp')
    for (let i = 0; i < 6; i++) {
      a.rn.propose(`p${i}`)
      nw.handleReady(a)
    }
    const toB = nw.drain().filter((m) => m.type === 'MsgApp' && m.to === 'b')
    expect(toB).toHaveLength(3)
    expect(a.rn.status().progress?.['b']?.paused).toBe(true)
  })
})

describe('Raft paper Figure 7: a new leader brings every follower log in line with its own', () => {
  // Leader for term 8 has terms [1,1,1,4,4,5,5,6,6,6]. Followers (a)..(f) from the figure.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const cases: [string, number[]][] = [
    ['(a) missing one entry', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['(b) missing many entries', [1, 1, 1, 4]],
    ['(c) one extra uncommitted entry of term 6', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['(d) extra entries of term 7', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['(e) extra entries of term 4, missing later ones', [1, 1, 1, 4, 4, 4, 4]],
    ['(f) extra entries of terms 2 and 3', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ]
  it.each(cases)('follower %s', (_name, followerLog) => {
    const ids = ['L', 'F', 'X']
    const L = newNode('L', { storage: storageWithTerms(leaderLog, ids) })
    const F = newNode('F', { storage: storageWithTerms(followerLog, ids) })
    // X votes for L (it has L's log) so L wins term 8 regardless of F.
    const X = newNode('X', { storage: storageWithTerms(leaderLog, ids) })
    const nw = new TestNetwork([L, F, X])
    L.rn.raft.term = 7
    nw.campaign('L')
    expect(nw.leaders()).toEqual(['L'])
    nw.propose('L', 'new')
    const want = logTerms(L)
    expect(want.slice(0, 10)).toEqual(leaderLog)
    expect(logTerms(F)).toEqual(want)
  })
})

describe('Raft paper Figure 8: a leader commits only entries of its current term by counting', () => {
  it('an entry of a previous term replicated on a majority is not committed by counting', () => {
    // a leads term 2 and appends an entry that reaches only a; then b leads term 3.
    const ids = ['a', 'b', 'c', 'd', 'e']
    const nw = TestNetwork.bootstrap(ids, { preVote: false, checkQuorum: false })
    nw.campaign('a')
    const base = nw.node('a').rn.status().commit
    nw.isolate('a')
    nw.node('a').rn.propose('term2-entry')
    nw.handleReady(nw.node('a'))
    nw.settle()
    // a comes back with a higher term, and replicates its term-2 entry to b and c, but its own
    // term's no-op is not acknowledged.
    nw.recover()
    for (const id of ['d', 'e']) nw.isolate(id)
    nw.node('a').rn.raft.becomeFollower(nw.node('a').rn.raft.term + 3, '')
    nw.ignore('MsgAppResp')
    nw.campaign('a')
    expect(nw.node('a').rn.status().state).toBe('leader')
    // Manually acknowledge up to the old-term entry (base+1) from b and c.
    const a = nw.node('a')
    const term = a.rn.status().term
    for (const from of ['b', 'c']) {
      a.rn.step(newMessage({ type: 'MsgAppResp', from, to: 'a', term, index: base + 1 }))
    }
    nw.handleReady(a)
    // base+1 is from term 2 and is on a majority (a, b, c) but must not be committed yet.
    expect(a.rn.raft.raftLog.termOrUndefined(base + 1)).toBeLessThan(term)
    expect(a.rn.status().commit).toBe(base)
    // Once the current-term no-op (base+2) reaches a majority, both commit (§5.4.2).
    for (const from of ['b', 'c']) {
      a.rn.step(newMessage({ type: 'MsgAppResp', from, to: 'a', term, index: base + 2 }))
    }
    nw.handleReady(a)
    expect(a.rn.status().commit).toBe(base + 2)
  })

  it('with the unsafe commitPreviousTerm knob the same situation commits early (the Figure 8 bug)', () => {
    const ids = ['a', 'b', 'c']
    const a = newNode('a', {
      storage: storageWithTerms([1, 2], ids, 1),
      unsafeTestingKnobs: { commitPreviousTerm: true },
    })
    a.rn.raft.term = 3
    a.rn.campaign()
    a.rn.step(newMessage({ type: 'MsgPreVoteResp', from: 'b', to: 'a', term: 4 }))
    a.rn.step(newMessage({ type: 'MsgVoteResp', from: 'b', to: 'a', term: 4 }))
    expect(a.rn.status().state).toBe('leader')
    a.rn.step(newMessage({ type: 'MsgAppResp', from: 'b', to: 'a', term: 4, index: 2 }))
    expect(a.rn.status().commit).toBe(2)
  })

  it('a server with an uncommitted entry of an old term can be overwritten (Figure 8 (d))', () => {
    // s1 holds [1,2] (2 uncommitted); s5 holds [1,3] and wins term 4 with votes from s2..s4.
    const ids = ['s1', 's2', 's3', 's4', 's5']
    const s1 = newNode('s1', { storage: storageWithTerms([1, 2], ids, 1) })
    const others = ['s2', 's3', 's4'].map((id) =>
      newNode(id, { storage: storageWithTerms([1], ids, 1) }),
    )
    const s5 = newNode('s5', { storage: storageWithTerms([1, 3], ids, 1) })
    const nw = new TestNetwork([s1, ...others, s5])
    s5.rn.raft.term = 3
    nw.campaign('s5')
    expect(nw.leaders()).toEqual(['s5'])
    expect(logTerms(s1).slice(0, 2)).toEqual([1, 3])
  })
})

describe('Raft paper Figure 8, end to end: why counting replicas of an old-term entry is unsafe', () => {
  // Five servers; every log starts [1] committed. S1 led term 2 and wrote (2, t2) locally; S5
  // led term 3 and wrote (2, t3) locally. Now S1 wins term 4 with S2–S4, and (one entry per
  // MsgApp) replicates (2, t2) to S3 and S4 but not its own no-op (3, t4). Then S1 crashes and
  // S5 wins term 5 with S2–S4, whose last term (2) is older than S5's (3).
  function figure8(unsafe: boolean): { s1: number[]; s5: number[] } {
    const ids = ['s1', 's2', 's3', 's4', 's5']
    const opts = {
      preVote: false,
      checkQuorum: false,
      maxSizePerMsg: 1,
      ...(unsafe ? { unsafeTestingKnobs: { commitPreviousTerm: true } } : {}),
    }
    const s1 = newNode('s1', { storage: storageWithTerms([1, 2], ids, 1), ...opts })
    const rest = ['s2', 's3', 's4'].map((id) =>
      newNode(id, { storage: storageWithTerms([1], ids, 1), ...opts }),
    )
    const s5 = newNode('s5', { storage: storageWithTerms([1, 3], ids, 1), ...opts })
    const nw = new TestNetwork([s1, ...rest, s5])
    // S1 campaigns for term 4; S5 and S2 hear nothing more from it after the vote.
    s1.rn.raft.term = 3
    nw.cutLink('s1', 's5')
    nw.cutLink('s5', 's1')
    s1.rn.campaign()
    nw.handleReady(s1)
    const hasNoop = (m: { type: string; entries: { index: number }[] }): boolean =>
      m.type === 'MsgApp' && m.entries.some((e) => e.index >= 3)
    // Deliver by hand: votes go through; no MsgApp reaches s2; index 3 never lands anywhere.
    for (let guard = 0; guard < 100; guard++) {
      const msgs = nw.drain()
      if (msgs.length === 0) break
      for (const m of msgs) {
        if (m.to === 's5' || m.from === 's5') continue
        // (A MsgApp carrying index 3 is only harmless if the recipient will reject it.)
        const accepts = (): boolean => nw.node(m.to).storage.lastIndex() >= m.index
        if (m.from === 's1' && (m.to === 's2' ? m.type === 'MsgApp' : hasNoop(m) && accepts()))
          continue
        if (m.from === 's1' && m.type === 'MsgApp' && m.commit > 1) continue
        nw.node(m.to).rn.step(m)
        nw.handleReady(nw.node(m.to))
      }
    }
    expect(s1.rn.status().state).toBe('leader')
    // S1 crashes. S5 campaigns (term 5) and leads S2–S4.
    nw.isolate('s1')
    nw.recover()
    nw.isolate('s1')
    nw.drain()
    s5.rn.raft.term = 4
    nw.campaign('s5')
    expect(s5.rn.status().state).toBe('leader')
    nw.propose('s5', 'after')
    const termAt2 = (n: typeof s1): number[] =>
      n.applied.filter((e) => e.index === 2).map((e) => e.term)
    return { s1: termAt2(s1), s5: termAt2(s5) }
  }

  it('with the commit rule, the old-term entry is never applied and S5 overwrites it safely', () => {
    expect(figure8(false)).toEqual({ s1: [], s5: [3] })
  })

  it('with the planted bug, S1 applies (2, t2) and S5 later applies (2, t3): safety is violated', () => {
    expect(figure8(true)).toEqual({ s1: [2], s5: [3] })
  })
})

describe('fast log backtracking', () => {
  it('a follower with a long divergent tail is repaired in few round trips', () => {
    const ids = ['L', 'F', 'X']
    const leaderLog = [1, ...Array<number>(50).fill(3)]
    const followerLog = [1, ...Array<number>(80).fill(2)]
    const L = newNode('L', { storage: storageWithTerms(leaderLog, ids) })
    const F = newNode('F', { storage: storageWithTerms(followerLog, ids) })
    const X = newNode('X', { storage: storageWithTerms(leaderLog, ids) })
    const nw = new TestNetwork([L, F, X])
    L.rn.raft.term = 4
    nw.campaign('L')
    const rejects = nw.delivered.filter(
      (m) => m.type === 'MsgAppResp' && m.from === 'F' && m.reject,
    )
    expect(rejects.length).toBeLessThanOrEqual(3)
    expect(logTerms(F)).toEqual(logTerms(L))
  })
})

describe('linearizable reads: ReadIndex (thesis §6.4)', () => {
  it('the leader answers a read after a heartbeat round with its commit index', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'w')
    const a = nw.node('a')
    a.rn.readIndex('ctx1')
    nw.handleReady(a)
    expect(a.readStates).toEqual([])
    nw.settle()
    expect(a.readStates).toEqual([{ index: a.rn.status().commit, ctx: 'ctx1' }])
  })

  it('a follower gets a read index from the leader', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'w')
    const b = nw.node('b')
    b.rn.readIndex('from-b')
    nw.handleReady(b)
    nw.settle()
    expect(b.readStates).toEqual([{ index: nw.node('a').rn.status().commit, ctx: 'from-b' }])
  })

  it('one heartbeat round confirms every read waiting on it (batching)', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    const a = nw.node('a')
    nw.ignore('MsgHeartbeatResp')
    for (let i = 0; i < 5; i++) {
      a.rn.readIndex(`r${i}`)
      nw.handleReady(a)
      nw.settle()
    }
    expect(a.readStates).toEqual([])
    nw.recover()
    nw.delivered.length = 0
    // The next heartbeat carries the newest ctx; its acks release all five reads.
    nw.tick('a')
    expect(a.readStates.map((r) => r.ctx)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'])
    const hbs = nw.delivered.filter((m) => m.type === 'MsgHeartbeat')
    expect(hbs.length).toBe(2)
  })

  it('a leader without quorum confirmation never answers', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('a')
    nw.node('a').rn.readIndex('x')
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').readStates).toEqual([])
  })

  it('a new leader holds reads until it commits an entry of its own term', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.ignore('MsgAppResp')
    nw.campaign('a')
    const a = nw.node('a')
    a.rn.readIndex('early')
    nw.handleReady(a)
    nw.settle()
    expect(a.readStates).toEqual([])
    nw.recover()
    nw.tick('a')
    expect(a.readStates.map((r) => r.ctx)).toEqual(['early'])
    expect(a.readStates[0]!.index).toBe(a.rn.status().commit)
  })

  it('readIndex with no leader throws ProposalDroppedError', () => {
    const nw = TestNetwork.bootstrap(abc)
    expect(() => nw.node('a').rn.readIndex('x')).toThrow(ProposalDroppedError)
  })
})

describe('leadership transfer (thesis §3.10)', () => {
  it('hands leadership to an up-to-date follower with MsgTimeoutNow', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.node('a').rn.transferLeader('b')
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.leaders()).toEqual(['b'])
  })

  it('catches a lagging transferee up first', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 3; i++) nw.propose('a', `x${i}`)
    nw.recover()
    nw.node('a').rn.transferLeader('c')
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.leaders()).toEqual(['c'])
    expect(nw.node('c').applied.map((e) => e.data)).toContain('x2')
  })

  it('is aborted after an election timeout if the transferee does not respond', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    nw.node('a').rn.transferLeader('c')
    nw.handleReady(nw.node('a'))
    expect(nw.node('a').rn.status().leadTransferee).toBe('c')
    nw.tick('a', 10)
    expect(nw.node('a').rn.status().leadTransferee).toBe('')
    expect(nw.leaders()).toEqual(['a'])
    expect(() => nw.propose('a', 'ok')).not.toThrow()
  })

  it('a follower forwards a transfer request to the leader', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.node('b').rn.transferLeader('b')
    nw.handleReady(nw.node('b'))
    nw.settle()
    expect(nw.leaders()).toEqual(['b'])
  })
})

describe('membership changes (thesis §4.1)', () => {
  it('adds a learner that receives the log but does not vote', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'before')
    nw.nodes.set('d', newNode('d'))
    nw.node('a').rn.proposeConfChange({ type: 'addLearner', nodeId: 'd' })
    nw.handleReady(nw.node('a'))
    nw.settle()
    nw.propose('a', 'after')
    const d = nw.node('d')
    expect(d.applied.map((e) => e.data)).toContain('after')
    expect(nw.node('a').rn.status().config).toEqual({ voters: abc, learners: ['d'] })
    expect(d.rn.raft.promotable()).toBe(false)
    for (let i = 0; i < 50; i++) nw.tick('d')
    expect(d.rn.status().state).toBe('follower')
  })

  it('promotes a learner to voter, which then counts toward the quorum', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.nodes.set('d', newNode('d'))
    nw.node('a').rn.proposeConfChange({ type: 'addLearner', nodeId: 'd' })
    nw.handleReady(nw.node('a'))
    nw.settle()
    nw.node('a').rn.proposeConfChange({ type: 'promoteLearner', nodeId: 'd' })
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').rn.status().config.voters).toEqual(['a', 'b', 'c', 'd'])
    // With 4 voters, a and one other is not a majority.
    nw.isolate('c')
    nw.isolate('d')
    const before = nw.node('a').rn.status().commit
    nw.node('a').rn.propose('needs-3')
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').rn.status().commit).toBe(before)
  })

  it('removing a voter shrinks the quorum and commits what now has a majority', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.node('a').rn.proposeConfChange({ type: 'removeNode', nodeId: 'c' })
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').rn.status().config.voters).toEqual(['a', 'b'])
    nw.isolate('c')
    nw.propose('a', 'two-of-two')
    expect(nw.node('b').applied.map((e) => e.data)).toContain('two-of-two')
  })

  it('a leader that removes itself steps down', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.node('a').rn.proposeConfChange({ type: 'removeNode', nodeId: 'a' })
    nw.handleReady(nw.node('a'))
    nw.settle()
    expect(nw.node('a').rn.status().state).toBe('follower')
  })

  it('allows one pending conf change at a time: a second one becomes an empty entry', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.ignore('MsgAppResp')
    const a = nw.node('a')
    a.rn.proposeConfChange({ type: 'addLearner', nodeId: 'x' })
    a.rn.proposeConfChange({ type: 'addLearner', nodeId: 'y' })
    nw.handleReady(a)
    const ents = a.rn.raft.raftLog.allEntries().slice(-2)
    expect(ents.map((e) => e.type)).toEqual(['confChange', 'normal'])
    expect(ents[1]!.data).toBe('')
  })

  it('a new leader refuses a conf change until its first entry is applied', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.ignore('MsgAppResp')
    nw.campaign('a')
    const a = nw.node('a')
    a.rn.proposeConfChange({ type: 'addLearner', nodeId: 'x' })
    nw.handleReady(a)
    const last = a.rn.raft.raftLog.allEntries().at(-1)!
    expect(last.type).toBe('normal')
  })
})

describe('log compaction and snapshots (paper §7)', () => {
  it('a follower that fell behind the compaction point is sent a snapshot and catches up', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 10; i++) nw.propose('a', `s${i}`)
    const a = nw.node('a')
    const applied = a.rn.status().applied
    a.storage.createSnapshot(applied, a.rn.status().config, 'snapdata')
    a.storage.compact(applied)
    nw.recover()
    nw.delivered.length = 0
    nw.tick('a')
    // The simulated transport reports the snapshot as delivered.
    a.rn.reportSnapshot('c', 'finish')
    nw.handleReady(a)
    nw.tick('a')
    expect(nw.delivered.some((m) => m.type === 'MsgSnap' && m.to === 'c')).toBe(true)
    const c = nw.node('c')
    expect(c.storage.snapshot().metadata.index).toBe(applied)
    expect(c.storage.snapshot().data).toBe('snapdata')
    nw.propose('a', 'after-snap')
    expect(c.applied.map((e) => e.data)).toContain('after-snap')
    expect(c.rn.status().commit).toBe(a.rn.status().commit)
  })

  it('a lost snapshot that the shell never reports is retried after two election timeouts', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.isolate('c')
    for (let i = 0; i < 10; i++) nw.propose('a', `s${i}`)
    const a = nw.node('a')
    const applied = a.rn.status().applied
    a.storage.createSnapshot(applied, a.rn.status().config, 'snapdata')
    a.storage.compact(applied)
    nw.recover()
    nw.ignore('MsgSnap')
    nw.tick('a', 3)
    expect(a.rn.status().progress?.['c']?.state).toBe('snapshot')
    nw.recover()
    nw.tick('a', 25)
    expect(nw.node('c').storage.snapshot().metadata.index).toBe(applied)
    expect(a.rn.status().progress?.['c']?.state).toBe('replicate')
  })

  it('a follower ignores a snapshot older than its commit index', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'x')
    const b = nw.node('b')
    const commit = b.rn.status().commit
    b.rn.step(
      newMessage({
        type: 'MsgSnap',
        from: 'a',
        to: 'b',
        term: b.rn.status().term,
        snapshot: {
          metadata: { index: 1, term: 1, confState: { voters: abc, learners: [] } },
          data: '',
        },
      }),
    )
    expect(b.rn.ready().snapshot).toBeUndefined()
    expect(b.rn.status().commit).toBe(commit)
  })
})

describe('restart from persisted state', () => {
  it('a restarted node keeps its term, vote and log and re-applies committed entries', () => {
    const nw = TestNetwork.bootstrap(abc)
    nw.campaign('a')
    nw.propose('a', 'durable')
    const b = nw.node('b')
    const st = b.rn.status()
    const restarted = newNode('b', { storage: b.storage })
    expect(restarted.rn.status().term).toBe(st.term)
    expect(restarted.rn.status().vote).toBe(st.vote)
    expect(restarted.rn.status().commit).toBe(st.commit)
    const rd = restarted.rn.ready()
    expect(rd.committedEntries.map((e) => e.data)).toContain('durable')
  })
})
