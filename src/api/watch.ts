// etcd's Watch API on the wire (rpc.proto WatchRequest / WatchResponse), pure: decoding the
// requests a watch stream receives (one JSON object each, as etcd's gateway reads them) and
// encoding the `{"result": WatchResponse}` lines/frames it sends.
import type { MvccEvent } from '../mvcc/types.ts'
import { decodeError } from './errors.ts'
import { GoDecodeError, parseGoJson } from './go-json.ts'
import {
  boolField,
  bytesField,
  enumField,
  field,
  int64Field,
  message,
  num,
  repeatedField,
} from './kv-schema.ts'
import { encodeHeader, encodeKv, type HeaderContext, type Json } from './kv-service.ts'

/** WatchCreateRequest.FilterType. */
export const WATCH_FILTER = { NOPUT: 0, NODELETE: 1 }

/** What a client asks for when it creates a watcher. */
export interface WatchCreateRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  startRevision: number
  progressNotify: boolean
  filters: number[]
  prevKv: boolean
  /** 0 = let the server choose. */
  watchId: number
  fragment: boolean
}

/** One request on a watch stream (the oneof of WatchRequest), or nothing recognised. */
export type WatchRequest =
  | { type: 'create'; request: WatchCreateRequest }
  | { type: 'cancel'; watchId: number }
  | { type: 'progress' }
  | { type: 'empty' }

const WatchCreateRequestSchema = message(() => ({
  key: bytesField,
  range_end: bytesField,
  start_revision: int64Field,
  progress_notify: boolField,
  filters: repeatedField(enumField('etcdserverpb.WatchCreateRequest_FilterType', WATCH_FILTER)),
  prev_kv: boolField,
  watch_id: int64Field,
  fragment: boolField,
}))

const WatchCancelRequestSchema = message(() => ({ watch_id: int64Field }))
const WatchProgressRequestSchema = message(() => ({}))

const WatchRequestSchema = message(() => ({
  create_request: field(
    (n) => WatchCreateRequestSchema.parse(n),
    () => undefined,
  ),
  cancel_request: field(
    (n) => WatchCancelRequestSchema.parse(n),
    () => undefined,
  ),
  progress_request: field(
    (n) => WatchProgressRequestSchema.parse(n),
    () => undefined,
  ),
}))

/** Decodes one WatchRequest from JSON text. Throws EtcdError (code 3) on bad input. */
export function decodeWatchRequest(text: string): WatchRequest {
  try {
    const r = WatchRequestSchema.parse(parseGoJson(text, 'decoder'))
    if (r.create_request) {
      const c = r.create_request
      return {
        type: 'create',
        request: {
          key: c.key,
          rangeEnd: c.range_end,
          startRevision: num(c.start_revision),
          progressNotify: c.progress_notify,
          filters: c.filters,
          prevKv: c.prev_kv,
          watchId: num(c.watch_id),
          fragment: c.fragment,
        },
      }
    }
    if (r.cancel_request) return { type: 'cancel', watchId: num(r.cancel_request.watch_id) }
    if (r.progress_request) return { type: 'progress' }
    return { type: 'empty' }
  } catch (err) {
    if (err instanceof GoDecodeError) throw decodeError(err.message)
    throw err
  }
}

/**
 * Splits a request body holding several JSON values one after another (`{...}{...}` or one per
 * line), as Go's json.Decoder reads etcd's gateway watch body. Returns the texts of the complete
 * values and what is left over (an incomplete value still arriving).
 */
export function splitJsonValues(text: string): { values: string[]; rest: string } {
  const values: string[] = []
  let depth = 0
  let start = -1
  let inString = false
  let escaped = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (escaped) escaped = false
      else if (c === '\\') escaped = true
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') {
      inString = true
      if (start < 0) start = i
    } else if (c === '{' || c === '[') {
      if (depth === 0 && start < 0) start = i
      depth++
    } else if ((c === '}' || c === ']') && depth === 0 && start < 0) {
      // A closer with nothing open: its own (invalid) value, so the decoder names it as etcd's
      // does ("invalid character ']' looking for beginning of value").
      values.push(c)
    } else if (c === '}' || c === ']') {
      depth--
      if (depth === 0 && start >= 0) {
        values.push(text.slice(start, i + 1))
        start = -1
      }
    } else if (depth === 0 && start < 0 && !/\s/.test(c ?? '')) {
      // A bare scalar at top level: hand it on so the decoder reports etcd's error for it.
      let end = i
      while (end < text.length && !/[\s{["]/.test(text[end]!)) end++
      values.push(text.slice(i, end))
      i = end - 1
    }
  }
  return { values, rest: start >= 0 ? text.slice(start) : '' }
}

/** A WatchResponse, with events as the store produced them. */
export interface WatchResponse {
  revision: number
  watchId: number
  created?: boolean
  canceled?: boolean
  compactRevision?: number
  cancelReason?: string
  fragment?: boolean
  events?: MvccEvent[]
  /** Include each event's previous kv (the watcher asked for prev_kv). */
  prevKv?: boolean
}

/** `{"result": WatchResponse}` as etcd's gateway writes it (proto field order, zeros omitted). */
export function encodeWatchResponse(r: WatchResponse, header: HeaderContext): string {
  const o: Record<string, Json> = { header: encodeHeader(r.revision, header) }
  if (r.watchId !== 0) o['watch_id'] = String(r.watchId)
  if (r.created) o['created'] = true
  if (r.canceled) o['canceled'] = true
  if (r.compactRevision) o['compact_revision'] = String(r.compactRevision)
  if (r.cancelReason) o['cancel_reason'] = r.cancelReason
  if (r.fragment) o['fragment'] = true
  if (r.events && r.events.length > 0) {
    o['events'] = r.events.map((e) => {
      const ev: Record<string, Json> = {}
      if (e.type === 'DELETE') ev['type'] = 'DELETE'
      ev['kv'] = encodeKv(e.kv)
      if (r.prevKv && e.prevKv) ev['prev_kv'] = encodeKv(e.prevKv)
      return ev
    })
  }
  return JSON.stringify({ result: o })
}
