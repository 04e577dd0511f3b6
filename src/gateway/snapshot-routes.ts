// Backup and restore. `POST /v3/maintenance/snapshot` streams a consistent copy of the whole
// store as etcd 3.4's gateway does: one `{"result":{"remaining_bytes","blob"}}` line per 32 KiB
// chunk, then one line whose blob is the SHA-256 of everything before it (etcd appends the
// digest the same way; `etcdctl snapshot restore` checks it). The bytes are edge-etcd's own
// store format (kv-snapshot.ts JSON), not a bbolt file.
// `POST /_admin/restore` (body: the saved file) loads such a file into a NEW, fresh cluster.
import type { Hono } from 'hono'
import { encodeBase64 } from '../api/go-json.ts'
import { EtcdError, GrpcCode } from '../api/errors.ts'
import { RESTORE_TIMEOUT_MS, type SavedSnapshot } from '../member/recovery.ts'
import type { RestoreOutcome } from '../member/restore.ts'
import { bodyCap, clusterOf, REQUEST_DEADLINE_MS, type AppEnv } from './cluster.ts'
import { CORS_HEADERS, errorResponse, jsonResponse, readBody } from './http.ts'
import { discoveredMembers } from './membership-view.ts'
import { callWithFailover, RetryableError, unavailable } from './routing.ts'

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024
/** The SHA-256 digest etcd appends to a snapshot. */
export const DIGEST_BYTES = 32
/** The largest file `/_admin/restore` accepts (one raft entry carries it to every member). */
const RESTORE_MAX_BYTES = 64 * 1024 * 1024

function snapshotLines(data: Uint8Array, digest: Uint8Array): string[] {
  const lines: string[] = []
  for (let sent = 0; sent < data.length;) {
    const chunk = data.subarray(sent, sent + CHUNK_BYTES)
    sent += chunk.length
    const result: Record<string, string> = {}
    if (data.length - sent > 0) result.remaining_bytes = String(data.length - sent)
    result.blob = encodeBase64(chunk)
    lines.push(JSON.stringify({ result }) + '\n')
  }
  lines.push(JSON.stringify({ result: { blob: encodeBase64(digest) } }) + '\n')
  return lines
}

/** Adds `/v3/maintenance/snapshot` under `prefix`. */
export function registerSnapshotRoutes(app: Hono<AppEnv>, prefix: string): void {
  app.post(`${prefix}/maintenance/snapshot`, async (c) => {
    try {
      const { config } = clusterOf(c)
      await readBody(c.req.raw, bodyCap(config))
      const members = await discoveredMembers(c.env, config, (p) => c.executionCtx.waitUntil(p))
      const saved = await callWithFailover(
        config.clusterName,
        members,
        'leader',
        REQUEST_DEADLINE_MS,
        async (m, learnLeader) => {
          const r: SavedSnapshot | { ok: false; etcdError: string; leaderName?: string } =
            await m.stub.snapshotSave(m.spec.name)
          if ('ok' in r) {
            learnLeader(r.leaderName)
            throw new RetryableError(r.etcdError)
          }
          return r
        },
      ).catch((e: unknown) => {
        throw unavailable(e)
      })
      const data = new TextEncoder().encode(saved.data)
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
      return new Response(snapshotLines(data, digest).join(''), {
        encodeBody: 'manual',
        headers: {
          ...CORS_HEADERS,
          'Content-Type': 'application/json',
          'Grpc-Metadata-Content-Type': 'application/grpc',
          'X-Edge-Snapshot-Revision': String(saved.revision),
        },
      })
    } catch (e) {
      return errorResponse(e)
    }
  })
}

/**
 * Splits a saved snapshot file into data and digest and checks the digest; throws etcd's
 * DATA_LOSS error (as `etcdctl snapshot restore`: "snapshot file integrity check failed").
 */
export async function verifySnapshotFile(file: Uint8Array): Promise<Uint8Array> {
  const corrupt = new EtcdError(GrpcCode.DATA_LOSS, 'snapshot file integrity check failed')
  if (file.length < DIGEST_BYTES) throw corrupt
  const data = file.subarray(0, file.length - DIGEST_BYTES)
  const expected = file.subarray(file.length - DIGEST_BYTES)
  const actual = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
  if (!actual.every((b, i) => b === expected[i])) throw corrupt
  return data
}

/** Adds `/_admin/restore`: load a saved snapshot into this cluster, only while it is fresh. */
export function registerAdminRoutes(app: Hono<AppEnv>): void {
  app.post('/_admin/restore', async (c) => {
    try {
      const { config } = clusterOf(c)
      const file = new Uint8Array(await c.req.arrayBuffer())
      if (file.length > RESTORE_MAX_BYTES) {
        throw new EtcdError(GrpcCode.RESOURCE_EXHAUSTED, 'snapshot file too large to restore')
      }
      const data = new TextDecoder().decode(await verifySnapshotFile(file))
      const requestId = crypto.randomUUID()
      const members = await discoveredMembers(c.env, config, (p) => c.executionCtx.waitUntil(p))
      const outcome = await callWithFailover(
        config.clusterName,
        members,
        'leader',
        RESTORE_TIMEOUT_MS,
        async (m, learnLeader) => {
          const r: RestoreOutcome | { ok: false; etcdError: string; leaderName?: string } =
            await m.stub.restoreSnapshot(m.spec.name, requestId, data)
          if ('etcdError' in r) {
            learnLeader(r.leaderName)
            throw new RetryableError(r.etcdError)
          }
          return r
        },
      ).catch((e: unknown) => {
        throw unavailable(e)
      })
      if (!outcome.ok) throw new EtcdError(GrpcCode.FAILED_PRECONDITION, outcome.message)
      return jsonResponse(JSON.stringify({ restored: true, message: outcome.message }))
    } catch (e) {
      return errorResponse(e)
    }
  })
}
