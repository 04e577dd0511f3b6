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
  const mixed = mix64(id)
  return (mixed === 0n ? 1n : mixed).toString()
}

/**
 * splitmix64's finalizer: FNV of names that differ only in the last byte share their high bits;
 * mixing makes IDs of m1, m2, m3 look as unrelated as etcd's random ones.
 */
function mix64(x: bigint): bigint {
  let z = x & MASK64
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
  return z ^ (z >> 31n)
}

/** The Durable Object name of a member: `idFromName(cluster + "/" + member)` (DESIGN.md §3). */
export function memberObjectName(clusterName: string, memberName: string): string {
  return `${clusterName}/${memberName}`
}

/**
 * The ID of member `name` living in Durable Object `objectName` (undefined when the platform
 * does not say): a bootstrap member's object is `<cluster>/<name>` and its ID comes from the
 * name; an added member's object is `<cluster>/<name>/<id>` (membership.ts). `given` is the ID
 * the caller believes in; a contradiction throws rather than start the wrong member.
 */
export function identityOf(
  clusterName: string,
  bootstrapIds: ReadonlySet<string>,
  name: string,
  objectName: string | undefined,
  given: string | undefined,
): string {
  const base = memberObjectName(clusterName, name)
  if (objectName === base || (objectName === undefined && given === undefined)) {
    const id = memberId(clusterName, name)
    if (!bootstrapIds.has(id)) throw new Error(`${name} is not an initial member`)
    return id
  }
  const fromName = objectName?.startsWith(`${base}/`) ? objectName.slice(base.length + 1) : given
  if (fromName === undefined || (given !== undefined && given !== fromName)) {
    throw new Error(`object ${objectName} is not member ${name}`)
  }
  return fromName
}
