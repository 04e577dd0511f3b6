// HashKV, computed exactly as etcd 3.4 does (mvcc/kvstore.go HashByRev): CRC-32C over the bucket
// name "key" and then, in revision order, every stored revision's bolt key (8-byte big-endian
// main, '_', 8-byte big-endian sub, 't' for a tombstone) followed by its protobuf-encoded
// mvccpb.KeyValue. Because we encode the same bytes, a healthy member's hash equals the hash etcd
// itself would report for the same history, not merely the hash of another edge-etcd member.

const CASTAGNOLI_REVERSED = 0x82f63b78

const crcTable: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REVERSED : c >>> 1
    table[i] = c >>> 0
  }
  return table
})()

/** Incremental CRC-32C (Castagnoli), as Go's crc32.New(crc32.MakeTable(crc32.Castagnoli)). */
export class Crc32c {
  private crc = 0xffffffff

  update(bytes: Uint8Array): this {
    let c = this.crc
    for (let i = 0; i < bytes.length; i++) {
      c = (crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)) >>> 0
    }
    this.crc = c
    return this
  }

  digest(): number {
    return (this.crc ^ 0xffffffff) >>> 0
  }
}

/** etcd's revToBytes (+ markTombstone): the key of one revision in bolt's "key" bucket. */
export function revisionBytes(main: number, sub: number, tombstone: boolean): Uint8Array {
  const out = new Uint8Array(tombstone ? 18 : 17)
  const view = new DataView(out.buffer)
  // Revisions are below 2^53: the high word fits a uint32.
  view.setUint32(0, Math.floor(main / 2 ** 32))
  view.setUint32(4, main >>> 0)
  out[8] = 0x5f // '_'
  view.setUint32(9, Math.floor(sub / 2 ** 32))
  view.setUint32(13, sub >>> 0)
  if (tombstone) out[17] = 0x74 // 't'
  return out
}

/** The fields of mvccpb.KeyValue as stored for one revision. */
export interface StoredKeyValue {
  key: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  value: Uint8Array
  lease: bigint
}

/** proto3 encoding of mvccpb.KeyValue (fields 1..6, zero values omitted), as gogo marshals it. */
export function marshalKeyValue(kv: StoredKeyValue): Uint8Array {
  const out: number[] = []
  const bytesField = (tag: number, b: Uint8Array): void => {
    if (b.length === 0) return
    out.push(tag)
    pushVarint(out, b.length)
    for (let i = 0; i < b.length; i++) out.push(b[i]!)
  }
  const intField = (tag: number, v: number | bigint): void => {
    if (v === 0 || v === 0n) return
    out.push(tag)
    pushVarint(out, v)
  }
  bytesField(0x0a, kv.key)
  intField(0x10, kv.createRevision)
  intField(0x18, kv.modRevision)
  intField(0x20, kv.version)
  bytesField(0x2a, kv.value)
  intField(0x30, kv.lease)
  return Uint8Array.from(out)
}

/** Varint of an int64 (negative numbers take ten bytes, two's complement, as protobuf does). */
function pushVarint(out: number[], v: number | bigint): void {
  if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) {
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80)
      v = Math.floor(v / 0x80)
    }
    out.push(v)
    return
  }
  let u = BigInt.asUintN(64, BigInt(v))
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80)
    u >>= 7n
  }
  out.push(Number(u))
}

/** Varint length of a non-negative size (for request-size accounting in src/api). */
export function varintLength(n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}
