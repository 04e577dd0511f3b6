// The /metrics page format: what the front door renders parses with the test parser, and the
// parser rejects what Prometheus would reject (so the integration test's parse can fail).
import { describe, expect, it } from 'vitest'
import { renderMetrics } from '../../src/gateway/metrics-text.ts'
import { MemberMetrics, type MemberGauges } from '../../src/member/metrics.ts'
import { parsePrometheusText, sampleSum, sampleValue } from '../support/prometheus.ts'

const gauges: MemberGauges = {
  memberIdHex: 'bdae9bbc11dd390d',
  serverVersion: '3.4.23',
  clusterVersion: '3.4',
  hasLeader: true,
  isLeader: false,
  isLearner: false,
  committedIndex: 12,
  appliedIndex: 11,
  pendingProposals: 0,
  quotaBackendBytes: 2 ** 31,
  dbSizeBytes: 61440,
  dbSizeInUseBytes: 61440,
  keys: 3,
  currentRevision: 4,
  compactRevision: 0,
}

describe('the /metrics page', () => {
  it('merges members under a member label, with cumulative histograms', () => {
    const m1 = new MemberMetrics()
    m1.recordRequest('etcdserverpb.KV', 'Put', 'OK', 0.003)
    m1.recordRequest('etcdserverpb.KV', 'Put', 'OK', 0.2)
    m1.peerSentBytes.inc({ To: '77' }, 500)
    m1.peerRoundTrip.observe(0.002, { To: '77' })
    const m2 = new MemberMetrics()
    m2.leaderChanges.inc()
    const page = renderMetrics([
      { member: 'm1', families: m1.collect(gauges) },
      { member: 'm2', families: m2.collect({ ...gauges, isLeader: true }) },
    ])
    const parsed = parsePrometheusText(page)
    expect(parsed.get('etcd_server_is_leader')?.type).toBe('gauge')
    expect(sampleValue(parsed, 'etcd_server_is_leader', { member: 'm2' })).toBe(1)
    expect(sampleValue(parsed, 'etcd_server_leader_changes_seen_total', { member: 'm2' })).toBe(1)
    expect(sampleValue(parsed, 'etcd_network_peer_sent_bytes_total', { To: '77' })).toBe(500)
    expect(sampleSum(parsed, 'grpc_server_handled_total', { grpc_method: 'Put' })).toBe(2)
    expect(
      sampleValue(parsed, 'grpc_server_handling_seconds_bucket', { member: 'm1', le: '0.005' }),
    ).toBe(1)
    expect(
      sampleValue(parsed, 'grpc_server_handling_seconds_bucket', { member: 'm1', le: '+Inf' }),
    ).toBe(2)
    expect(page.match(/^# TYPE etcd_server_has_leader /gm)).toHaveLength(1)
    expect(
      sampleValue(parsed, 'etcd_server_id', { member: 'm1', server_id: 'bdae9bbc11dd390d' }),
    ).toBe(1)
  })

  it.each([
    ['no newline at the end', '# TYPE a counter\na 1'],
    ['a sample of an undeclared family', '# TYPE a counter\nb 1\n'],
    ['a bad label', '# TYPE a counter\na{x=1} 1\n'],
    ['a bad value', '# TYPE a counter\na one\n'],
    [
      'a histogram that is not cumulative',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
  ])('the parser rejects %s', (_, page) => {
    expect(() => parsePrometheusText(page)).toThrow()
  })
})
