// Wire format of the KV service. Expected bodies are etcd 3.4.23's answers (curl, loopback),
// with our header context in place of etcd's cluster and member IDs.
import { describe, expect, it } from 'vitest'
import { mvccSql } from '../../test/support/node-sql.ts'
import {
  CompactedError,
  FutureRevError,
  KeyNotFoundError,
  LeaseNotFoundError,
} from '../mvcc/errors.ts'
import { ResponseTooLargeError } from '../mvcc/errors.ts'
import { KvStore } from '../mvcc/kv-store.ts'
import { putRequest } from '../mvcc/types.ts'
import type { RequestOp } from '../mvcc/types.ts'
import { EtcdError, EtcdErrors, GrpcCode, httpStatusFromGrpcCode, toHttpError } from './errors.ts'
import {
  decodeKvRequest,
  encodeKvResponse,
  handleKv,
  kvRouteOf,
  needsConsensus,
  validateKvRequest,
} from './kv-service.ts'
import type { HeaderContext, KvRoute } from './kv-service.ts'
import { checkIntervals } from './validate.ts'

const H: HeaderContext = {
  clusterId: '13455796455940752355',
  memberId: '443629905751424238',
  raftTerm: '2',
}
const HEADER = '"cluster_id":"13455796455940752355","member_id":"443629905751424238"'
const b = (s: string): Uint8Array => new TextEncoder().encode(s)

function session() {
  const store = new KvStore(mvccSql())
  return (route: KvRoute, body: string | object) =>
    handleKv(store, route, typeof body === 'string' ? body : JSON.stringify(body), H)
}

describe('routes', () => {
  it.each([
    ['/v3/kv/range', 'range'],
    ['/v3beta/kv/put', 'put'],
    ['/v3alpha/kv/deleterange', 'deleterange'],
    ['/v3/kv/txn', 'txn'],
    ['/v3/kv/compaction', 'compaction'],
    ['/v3/kv/nope', null],
    ['/v2/keys/a', null],
  ])('%s → %s', (path, route) => {
    expect(kvRouteOf(path)).toBe(route)
  })
})

describe('decoding', () => {
  it('accepts snake_case and lowerCamel (lowerCamel wins), enum names and numbers, ignores unknowns', () => {
    const r = decodeKvRequest(
      'range',
      '{"key":"YQ==","range_end":"Yw==","rangeEnd":"Yg==","sortOrder":"DESCEND","sort_target":3,"x":{"y":[1]},"countOnly":true,"limit":"5"}',
    )
    expect(r).toEqual({
      route: 'range',
      request: expect.objectContaining({
        key: b('a'),
        rangeEnd: b('b'),
        sortOrder: 2,
        sortTarget: 3,
        countOnly: true,
        limit: 5,
      }),
    })
  })

  it('treats an empty body and null as {}', () => {
    expect(decodeKvRequest('put', '')).toEqual(decodeKvRequest('put', '{}'))
    expect(decodeKvRequest('put', 'null')).toEqual(decodeKvRequest('put', '{}'))
  })

  it('decodes txn compares (with their oneof operand) and nested ops', () => {
    const r = decodeKvRequest(
      'txn',
      JSON.stringify({
        compare: [{ key: 'YQ==', target: 'MOD', result: 'LESS', mod_revision: '9' }],
        success: [{ requestTxn: { success: [{ request_put: { key: 'Yg==', lease: 5 } }] } }],
        failure: [{}],
      }),
    )
    expect(r.route === 'txn' && r.request.compare[0]).toEqual({
      key: b('a'),
      rangeEnd: new Uint8Array(0),
      target: 2,
      result: 2,
      modRevision: 9,
    })
    const nested = r.route === 'txn' ? (r.request.success[0] as RequestOp) : null
    expect(nested?.type === 'txn' && nested.request.success[0]).toEqual({
      type: 'put',
      request: putRequest({ key: b('b'), lease: 5n }),
    })
    expect(r.route === 'txn' && r.request.failure[0]).toEqual({ type: 'empty' })
  })

  // Go's messages for values of the wrong type.
  it.each([
    ['range', '{"key":123}', 'json: cannot unmarshal number into Go value of type []uint8'],
    [
      'range',
      '{"key":"YQ==","limit":true}',
      'json: cannot unmarshal bool into Go value of type int64',
    ],
    [
      'range',
      '{"key":"YQ==","limit":1.5}',
      'json: cannot unmarshal number 1.5 into Go value of type int64',
    ],
    [
      'range',
      '{"key":"YQ==","limit":"abc"}',
      "invalid character 'a' looking for beginning of value",
    ],
    [
      'range',
      '{"key":"YQ==","keys_only":"true"}',
      'json: cannot unmarshal string into Go value of type bool',
    ],
    [
      'range',
      '{"key":"YQ==","sort_order":"BOGUS"}',
      'unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder',
    ],
    // jsonpb takes an enum name as written, escapes and all (etcd 3.4, bad-input fuzzer).
    [
      'range',
      '{"key":"YQ==","sort_order":"\\u0000"}',
      'unknown value "\\\\u0000" for enum etcdserverpb.RangeRequest_SortOrder',
    ],
    [
      'range',
      '{"key":"YQ==","sort_order":"ASC\\u0045ND"}',
      'unknown value "ASC\\\\u0045ND" for enum etcdserverpb.RangeRequest_SortOrder',
    ],
    [
      'range',
      '[]',
      'json: cannot unmarshal array into Go value of type map[string]json.RawMessage',
    ],
    [
      'txn',
      '{"compare":{}}',
      'json: cannot unmarshal object into Go value of type []json.RawMessage',
    ],
    ['range', '{"key":"!!!"}', 'illegal base64 data at input byte 0'],
  ] as const)('%s %s → %s', (route, body, message) => {
    expect(handleKv(new KvStore(mvccSql()), route, body, H)).toEqual({
      status: 400,
      body: JSON.stringify({ error: message, message, code: 3 }),
    })
  })
})

describe('encoding', () => {
  it('writes etcd’s bytes: snake_case, int64 strings, base64, zero fields omitted', () => {
    const call = session()
    expect(call('put', { key: 'Zm9v', value: 'YmFy' })).toEqual({
      status: 200,
      body: `{"header":{${HEADER},"revision":"2","raft_term":"2"}}`,
    })
    expect(call('range', { key: 'Zm9v' }).body).toBe(
      `{"header":{${HEADER},"revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`,
    )
    expect(call('range', { key: 'eA==' }).body).toBe(
      `{"header":{${HEADER},"revision":"2","raft_term":"2"}}`,
    )
    expect(call('deleterange', { key: 'eA==' }).body).toBe(
      `{"header":{${HEADER},"revision":"2","raft_term":"2"}}`,
    )
  })

  it('gives nested responses a header with only the revision, and nested txns an empty one', () => {
    const call = session()
    const res = call('txn', {
      compare: [{ key: 'YQ==', target: 'VERSION', result: 'EQUAL', version: '0' }],
      success: [
        { request_put: { key: 'YQ==', value: 'MQ==' } },
        { request_range: { key: 'YQ==' } },
        { request_txn: { success: [{ request_range: { key: 'YQ==' } }] } },
        { request_delete_range: { key: 'eg==' } },
      ],
    })
    expect(res.body).toBe(
      `{"header":{${HEADER},"revision":"2","raft_term":"2"},"succeeded":true,"responses":[` +
        `{"response_put":{"header":{"revision":"2"}}},` +
        `{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"MQ=="}],"count":"1"}},` +
        `{"response_txn":{"header":{},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"MQ=="}],"count":"1"}}]}},` +
        `{"response_delete_range":{"header":{"revision":"2"}}}]}`,
    )
  })

  it('omits succeeded when false, deleted when 0, more when false; writes lease when set', () => {
    const store = new KvStore(mvccSql(), { leaseExists: () => true })
    const call = (route: KvRoute, body: object) =>
      handleKv(store, route, JSON.stringify(body), H).body
    expect(call('txn', { compare: [{ key: 'YQ==', target: 'VALUE', value: 'eA==' }] })).toBe(
      `{"header":{${HEADER},"revision":"1","raft_term":"2"}}`,
    )
    call('put', { key: 'YQ==', lease: '7' })
    expect(call('deleterange', { key: 'YQ==', prev_kv: true })).toBe(
      `{"header":{${HEADER},"revision":"3","raft_term":"2"},"deleted":"1","prev_kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","lease":"7"}]}`,
    )
  })

  it('encodes a compaction response', () => {
    const store = new KvStore(mvccSql())
    expect(encodeKvResponse({ route: 'compaction', response: store.compact(1) }, H)).toBe(
      `{"header":{${HEADER},"revision":"1","raft_term":"2"}}`,
    )
  })
})

describe('validation before Raft', () => {
  const fails = (route: KvRoute, body: object): EtcdError | null => {
    try {
      validateKvRequest(decodeKvRequest(route, JSON.stringify(body)))
      return null
    } catch (e) {
      if (e instanceof EtcdError) return e
      throw e
    }
  }
  const puts = (n: number, prefix = 'k') =>
    Array.from({ length: n }, (_, i) => ({ request_put: { key: btoa(`${prefix}${i}`) } }))

  it.each([
    ['range without key', 'range', {}, EtcdErrors.EmptyKey],
    ['put without key', 'put', { value: 'eA==' }, EtcdErrors.EmptyKey],
    ['delete without key', 'deleterange', {}, EtcdErrors.EmptyKey],
    [
      'ignore_value with a value',
      'put',
      { key: 'YQ==', ignore_value: true, value: 'eA==' },
      EtcdErrors.ValueProvided,
    ],
    [
      'ignore_lease with a lease',
      'put',
      { key: 'YQ==', ignore_lease: true, lease: 1 },
      EtcdErrors.LeaseProvided,
    ],
    ['129 ops', 'txn', { success: puts(129) }, EtcdErrors.TooManyOps],
    ['128 ops', 'txn', { success: puts(128) }, null],
    // A nested txn may use what its parent leaves: 128 - 29 ops at the top = 99.
    [
      '99 nested under 29',
      'txn',
      { success: [{ request_txn: { success: puts(99, 'n') } }, ...puts(28)] },
      null,
    ],
    [
      '100 nested under 29',
      'txn',
      { success: [{ request_txn: { success: puts(100, 'n') } }, ...puts(28)] },
      EtcdErrors.TooManyOps,
    ],
    ['empty op', 'txn', { success: [{}] }, EtcdErrors.KeyNotFound],
    ['compare without key', 'txn', { compare: [{ target: 'VALUE' }] }, EtcdErrors.EmptyKey],
    [
      'same key twice',
      'txn',
      { success: puts(2, 'same').map(() => ({ request_put: { key: 'YQ==' } })) },
      EtcdErrors.DuplicateKey,
    ],
    ['compaction', 'compaction', {}, null],
  ] as const)('%s', (_name, route, body, want) => {
    expect(fails(route, body)).toBe(want)
  })

  it('refuses oversized requests as gRPC and etcd do', () => {
    const big = (n: number) => ({ key: 'YQ==', value: Buffer.alloc(n).toString('base64') })
    expect(fails('put', big(1_500_000))).toBeNull()
    expect(fails('put', big(1_600_000))).toBe(EtcdErrors.RequestTooLarge)
    expect(fails('put', big(2_200_000))?.message).toBe(
      'grpc: received message larger than max (2200008 vs. 2097152)',
    )
    expect(fails('range', { key: Buffer.alloc(1_600_000).toString('base64') })).toBeNull()
  })

  it('checks overlapping puts and deletes like etcd’s interval tree', () => {
    const put = (k: string) => ({ type: 'put' as const, request: putRequest({ key: b(k) }) })
    const del = (k: string, end = '') => ({
      type: 'deleteRange' as const,
      request: { key: b(k), rangeEnd: b(end), prevKv: false },
    })
    const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
      type: 'txn',
      request: { compare: [], success, failure },
    })
    expect(checkIntervals([put('a'), del('b')]).err).toBeNull()
    expect(checkIntervals([put('b'), del('a', 'c')]).err).toBe(EtcdErrors.DuplicateKey)
    expect(checkIntervals([put('b'), del('a', '\0')]).err).toBeNull() // etcd quirk, kept
    expect(checkIntervals([nested([put('x')], [put('x')])]).err).toBeNull()
    expect(checkIntervals([put('x'), nested([put('x')])]).err).toBe(EtcdErrors.DuplicateKey)
    expect(checkIntervals([nested([del('x')]), put('x')]).err).toBe(EtcdErrors.DuplicateKey)
    expect(checkIntervals([nested([put('x')]), nested([put('x')])]).err).toBe(
      EtcdErrors.DuplicateKey,
    )
  })

  it('knows which requests go through Raft', () => {
    const req = (route: KvRoute, body: object) => decodeKvRequest(route, JSON.stringify(body))
    expect(needsConsensus(req('range', { key: 'YQ==' }))).toBe(false)
    expect(needsConsensus(req('txn', { success: [{ request_range: { key: 'YQ==' } }] }))).toBe(
      false,
    )
    expect(needsConsensus(req('txn', { success: [{ request_put: { key: 'YQ==' } }] }))).toBe(true)
    expect(needsConsensus(req('put', { key: 'YQ==' }))).toBe(true)
    expect(needsConsensus(req('compaction', {}))).toBe(true)
  })
})

describe('error catalog', () => {
  // Statuses etcd 3.4's gateway answered with.
  it.each([
    [new CompactedError(), 400, 11, 'etcdserver: mvcc: required revision has been compacted'],
    [new FutureRevError(), 400, 11, 'etcdserver: mvcc: required revision is a future revision'],
    [new LeaseNotFoundError(5n), 404, 5, 'etcdserver: requested lease not found'],
    [new KeyNotFoundError(), 400, 3, 'etcdserver: key not found'],
    [EtcdErrors.UserNotFound, 412, 9, 'etcdserver: user name not found'],
    [EtcdErrors.AuthNotEnabled, 412, 9, 'etcdserver: authentication is not enabled'],
    [EtcdErrors.NoLeader, 503, 14, 'etcdserver: no leader'],
    [EtcdErrors.TooManyRequests, 429, 8, 'etcdserver: too many requests'],
    [
      new ResponseTooLargeError(10, 5),
      429,
      8,
      'grpc: trying to send message larger than max (10 vs. 5)',
    ],
    [new Error('boom'), 500, 2, 'boom'],
  ])('%s → %i', (err, status, code, message) => {
    expect(toHttpError(err)).toEqual({
      status,
      body: JSON.stringify({ error: message, message, code }),
    })
  })

  it('maps every gRPC code as grpc-gateway v1 does', () => {
    expect(Object.values(GrpcCode).map(httpStatusFromGrpcCode)).toEqual([
      200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401,
    ])
  })

  it('escapes <, > and & as Go’s json.Marshal does', () => {
    expect(toHttpError(new EtcdError(3, 'a<b>&')).body).toBe(
      '{"error":"a\\u003cb\\u003e\\u0026","message":"a\\u003cb\\u003e\\u0026","code":3}',
    )
  })
})
