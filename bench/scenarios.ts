// The workloads, identical for etcd and edge-etcd: the same request bodies, byte for byte, sent
// to POST /v3/kv/*. Keys live under /bench/; values are 64 bytes (etcd's `benchmark` tool
// defaults to 8; 64 is closer to typical config values and still small).

/** One workload. */
export interface Scenario {
  name: string
  description: string
  path: string
  /** Request bodies, used in turn. */
  bodies: string[]
  /** Whether a 200 answer's body is the expected one (not an error that came back as 200). */
  check: (body: string) => boolean
  /** Requests to send once before the load (e.g. create the key being read). */
  setup: { path: string; body: string }[]
}

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const VALUE = b64('v'.repeat(64))
/** Distinct keys the put scenario cycles through (etcd's benchmark `--key-space-size`). */
const PUT_KEY_SPACE = 1000

const hasHeader = (body: string): boolean => body.includes('"header"')
const put = (key: string) => ({
  path: '/v3/kv/put',
  body: JSON.stringify({ key: b64(key), value: VALUE }),
})

/** Every scenario, in run order. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'put',
    description: `put of a 64-byte value, keys cycling over ${PUT_KEY_SPACE} keys`,
    path: '/v3/kv/put',
    bodies: Array.from({ length: PUT_KEY_SPACE }, (_, i) =>
      JSON.stringify({ key: b64(`/bench/put/${String(i).padStart(4, '0')}`), value: VALUE }),
    ),
    check: hasHeader,
    setup: [],
  },
  {
    name: 'range',
    description: 'linearizable range of one existing key',
    path: '/v3/kv/range',
    bodies: [JSON.stringify({ key: b64('/bench/range') })],
    check: (body) => body.includes('"kvs"'),
    setup: [put('/bench/range')],
  },
  {
    name: 'range-serializable',
    description: 'serializable range of one existing key',
    path: '/v3/kv/range',
    bodies: [JSON.stringify({ key: b64('/bench/range'), serializable: true })],
    check: (body) => body.includes('"kvs"'),
    setup: [put('/bench/range')],
  },
  {
    name: 'txn',
    description: 'txn: compare version(key) > 0, then put key',
    path: '/v3/kv/txn',
    bodies: [
      JSON.stringify({
        compare: [{ key: b64('/bench/txn'), target: 'VERSION', result: 'GREATER', version: '0' }],
        success: [{ request_put: { key: b64('/bench/txn'), value: VALUE } }],
      }),
    ],
    check: (body) => body.includes('"succeeded":true'),
    setup: [put('/bench/txn')],
  },
]
