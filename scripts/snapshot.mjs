#!/usr/bin/env node
// Backup and restore for edge-etcd over its HTTP API (etcdctl's snapshot verbs use gRPC).
//   npm run snapshot -- save FILE [--endpoint URL]     stream /v3/maintenance/snapshot to FILE
//   npm run snapshot -- status FILE                    check FILE's SHA-256 and describe it
//   npm run snapshot -- restore FILE [--endpoint URL]  load FILE into a NEW, fresh cluster
// The file is the snapshot's bytes followed by their SHA-256 (32 bytes), as etcd writes it.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const DIGEST_BYTES = 32

/** Streams a snapshot from `endpoint`; returns the file bytes (data + digest), checked. */
export async function saveSnapshot(endpoint) {
  const r = await fetch(`${endpoint}/v3/maintenance/snapshot`, { method: 'POST', body: '{}' })
  const text = await r.text()
  if (r.status !== 200) throw new Error(`snapshot failed: ${r.status} ${text}`)
  const blobs = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const parsed = JSON.parse(line)
      if (parsed.error) throw new Error(`snapshot failed: ${parsed.error.message}`)
      return Buffer.from(parsed.result.blob ?? '', 'base64')
    })
  const file = Buffer.concat(blobs)
  checkSnapshot(file)
  return file
}

/** Throws unless the last 32 bytes are the SHA-256 of the rest; returns the data part. */
export function checkSnapshot(file) {
  if (file.length < DIGEST_BYTES) throw new Error('snapshot file integrity check failed')
  const data = file.subarray(0, file.length - DIGEST_BYTES)
  const digest = file.subarray(file.length - DIGEST_BYTES)
  if (!createHash('sha256').update(data).digest().equals(digest)) {
    throw new Error('snapshot file integrity check failed')
  }
  return data
}

/** Loads a saved snapshot into the fresh cluster at `endpoint` (checked here and there). */
export async function restoreSnapshot(endpoint, file) {
  checkSnapshot(file)
  const r = await fetch(`${endpoint}/_admin/restore`, { method: 'POST', body: file })
  const text = await r.text()
  if (r.status !== 200) throw new Error(`restore failed: ${r.status} ${text}`)
  return JSON.parse(text)
}

/** What a snapshot holds: revision, compacted revision, key count. */
export function describeSnapshot(file) {
  const state = JSON.parse(checkSnapshot(file).toString())
  const meta = Object.fromEntries(state.tables.mvcc_meta.rows)
  return {
    revision: Number(meta.current_revision),
    compactRevision: Number(meta.compact_revision),
    totalKeys: state.tables.mvcc_latest.rows.length,
    totalSize: file.length,
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { endpoint: { type: 'string', default: 'http://127.0.0.1:2379' } },
  })
  const [verb, path] = positionals
  if (!['save', 'restore', 'status'].includes(verb) || !path) {
    console.error('usage: npm run snapshot -- save|restore|status FILE [--endpoint URL]')
    process.exit(2)
  }
  if (verb === 'save') {
    const file = await saveSnapshot(values.endpoint)
    writeFileSync(path, file)
    console.log(`Snapshot saved at ${path}`)
  }
  const file = readFileSync(path)
  if (verb === 'restore') {
    const result = await restoreSnapshot(values.endpoint, file)
    console.log(result.message)
  }
  console.log(JSON.stringify(describeSnapshot(file)))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e.message)
    process.exit(1)
  })
}
