import { describe, expect, it } from 'vitest'
import { parseInitialCluster, readClusterConfig } from './config.ts'

describe('parseInitialCluster', () => {
  it.each([
    ['m1,m2,m3', [{ name: 'm1' }, { name: 'm2' }, { name: 'm3' }]],
    [' m1 , m2@enam ', [{ name: 'm1' }, { name: 'm2', locationHint: 'enam' }]],
    ['solo', [{ name: 'solo' }]],
  ])('parses %j', (text, members) => {
    expect(parseInitialCluster(text)).toEqual(members)
  })

  it.each([
    ['', /no members/],
    ['m1,m1', /duplicate/],
    ['m1@mars', /unknown location hint/],
    ['m 1', /malformed/],
    ['m1@wnam@enam', /malformed/],
  ])('rejects %j', (text, error) => {
    expect(() => parseInitialCluster(text)).toThrow(error)
  })
})

describe('readClusterConfig', () => {
  it('uses etcd defaults when vars are absent', () => {
    const config = readClusterConfig({})
    expect(config.heartbeatIntervalMs).toBe(100)
    expect(config.electionTimeoutMs).toBe(1000)
    expect(config.maxTxnOps).toBe(128)
    expect(config.maxRequestBytes).toBe(1572864)
  })

  it('requires the election timeout to be at least 5 heartbeats, as etcd does', () => {
    expect(() =>
      readClusterConfig({ HEARTBEAT_INTERVAL_MS: '100', ELECTION_TIMEOUT_MS: '400' }),
    ).toThrow(/5 × HEARTBEAT/)
  })

  it('sends snapshots in chunks well under the 32 MiB RPC limit, never tiny ones', () => {
    expect(readClusterConfig({}).snapshotChunkBytes).toBe(4 * 1024 * 1024)
    expect(readClusterConfig({ SNAPSHOT_CHUNK_BYTES: '2048' }).snapshotChunkBytes).toBe(2048)
    expect(() => readClusterConfig({ SNAPSHOT_CHUNK_BYTES: '10' })).toThrow(/SNAPSHOT_CHUNK_BYTES/)
    expect(readClusterConfig({}).watchWsDrainBytesPerSec).toBe(4 * 1024 * 1024)
  })

  it('rejects non-numeric limits', () => {
    expect(() => readClusterConfig({ MAX_TXN_OPS: 'lots' })).toThrow(/MAX_TXN_OPS/)
  })
})
