// Member and cluster IDs: uint64, derived deterministically from names so every member and the
// front door compute the same IDs without coordination. Kept as decimal strings on the wire and
// in SQLite (TEXT), never as JS numbers, which lose precision above 2^53.

const FNV64_OFFSET = 0xcbf29ce484222325n
const FNV64_PRIME = 0x100000001b3n
const MASK64 = 0xffffffffffffffffn

/** FNV-1a, 64-bit, over the UTF-8 bytes of `text`. */
export function fnv1a64(text: string): bigint {
  let hash = FNV64_OFFSET
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte)
    hash = (hash * FNV64_PRIME) & MASK64
  }
  return hash
}

/** The uint64 ID of a cluster, as a decimal string. Never 0 (etcd treats 0 as "none"). */
export function clusterId(clusterName: string): string {
  return nonZero(fnv1a64(`cluster/${clusterName}`))
}

/** The uint64 ID of a member of a cluster, as a decimal string. Never 0. */
export function memberId(clusterName: string, memberName: string): string {
  return nonZero(fnv1a64(`member/${clusterName}/${memberName}`))
}

function nonZero(id: bigint): string {
  return (id === 0n ? 1n : id).toString()
}

/** The Durable Object name of a member: `idFromName(cluster + "/" + member)` (DESIGN.md §3). */
export function memberObjectName(clusterName: string, memberName: string): string {
  return `${clusterName}/${memberName}`
}
