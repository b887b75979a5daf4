import { createHash, randomUUID } from 'node:crypto'
import { and, asc, desc, eq, gt, lt, sql, type SQL } from 'drizzle-orm'
import { PgTransaction } from 'drizzle-orm/pg-core'
import { auditEvents, type AuditData, type AuditValue } from '../../db/schema/audit.js'
import type { Executor } from '../../db/client.js'
import { ValidationFailed } from '../../errors.js'

export type { AuditData, AuditValue }

/**
 * What a caller records. Audit events are kept forever and read by auditors, so they say *what happened
 * to which id*, never who in clear: no OTP codes, tokens, keys, passwords, emails or phone numbers.
 * Pass ids, HMACs or masked values (`a***@example.com`, `+1******2671`) instead.
 * `data` is flat on purpose: strings, safe integers, booleans and null, nothing nested.
 * Values that cannot be stored exactly, or that look like a secret or a contact in clear, are refused
 * with `AuditEventRejected` before anything is written.
 */
export interface AuditEventInput {
  /** A dotted name in lower case: `otp.sent`, `passkey.registered`, `session.revoked`. */
  type: string
  userId?: string | null
  /** Who acted when it was not the user: `system`, `cli`, `admin:<uuid>`. */
  actor?: string | null
  ip?: string | null
  data?: AuditData
}

export interface RecordedAuditEvent {
  id: string
  seq: number
  hash: string
}

export interface AuditEvent {
  seq: number
  id: string
  type: string
  userId: string | null
  actor: string | null
  ip: string | null
  data: AuditData
  createdAt: Date
  prevHash: string
  hash: string
}

export type AuditChainBreak = 'hash_mismatch' | 'prev_hash_mismatch' | 'gap'

export type AuditChainVerification =
  /** `head` is the last event seen; publishing it elsewhere is what makes cutting off the tail detectable. */
  | { ok: true; count: number; head: { seq: number; hash: string } | null }
  /** `count` is how many events verified before the break. */
  | { ok: false; count: number; brokenAt: { seq: number; reason: AuditChainBreak } }

export interface AuditListQuery {
  limit: number
  cursor?: string | null
  userId?: string | null
  type?: string | null
}

export interface AuditEventPage {
  items: AuditEvent[]
  nextCursor: string | null
}

/** A caller tried to record something the audit log will not hold; the message names the field, never the value. */
export class AuditEventRejected extends Error {
  override name = 'AuditEventRejected'
}

/** `prevHash` of the first event. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64)

/** Advisory lock key serialising appends across every connection and instance (the migration lock is 7_265_310). */
export const AUDIT_APPEND_LOCK_KEY = 7_265_311

const HASH_VERSION = 1
const DEFAULT_BATCH_SIZE = 1000
const MAX_LIST_LIMIT = 1000
const MAX_DATA_KEYS = 50
const MAX_KEY_LENGTH = 64
const MAX_STRING_LENGTH = 1024
const MAX_ACTOR_LENGTH = 200
const MAX_IP_LENGTH = 100

const TYPE_PATTERN = /^[a-z][a-z0-9_]*([.:-][a-z0-9_]+)*$/
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// PostgreSQL text cannot hold NUL, and a lone surrogate would be stored as U+FFFD: either would change the value after hashing.
const unstorable = (text: string) => text.includes('\u0000') || /\p{Cs}/u.test(text)
// Keys that name a secret: whatever the value is, it does not belong in the audit log.
const SECRET_KEYS = new Set(['code', 'otp', 'otpcode', 'token', 'accesstoken', 'refreshtoken', 'password', 'secret', 'privatekey', 'masterkey', 'apikey'])
// An address whose local part ends in a visible character is clear; `a***@example.com` is masked.
const CLEAR_EMAIL = /[^\s@*•]@[^\s@]+\.[^\s@]{2,}/u
const CLEAR_PHONE = /^\+\d{7,15}$/

// --- Recording ---------------------------------------------------------------------------------

/**
 * Appends one event to the chain. Pass the caller's transaction to make the event part of it (rolled back
 * with it); given the plain database, the event is written in a transaction of its own.
 *
 * Appends are serialised by a transaction-scoped advisory lock, so the lock lasts until the transaction that
 * took it ends: record the event as the transaction's last statement, or every other append in every
 * instance waits for the rest of that transaction. It cannot be released sooner: until the insert commits,
 * the next appender would not see it and would chain onto the same predecessor. Use READ COMMITTED (the
 * default): under REPEATABLE READ the snapshot may predate the lock, and the append then fails on `seq`.
 *
 * Since every append holds the lock through its commit, the chain grows at most one commit (one WAL flush)
 * at a time. Events written on their own therefore go out in batches: while one batch is committing,
 * the events that arrive on the same database handle wait and are appended together in the next
 * transaction, one lock, one insert and one flush for all of them. Each call still resolves only once its
 * event is committed.
 */
export async function recordAuditEvent(executor: Executor, event: AuditEventInput): Promise<RecordedAuditEvent> {
  const fields = checkEvent(event)
  if (executor instanceof PgTransaction) return (await appendEvents(executor, [fields]))[0]!
  let batcher = batchers.get(executor)
  if (!batcher) batchers.set(executor, batcher = new AppendBatcher(executor))
  return batcher.append(fields)
}

type CheckedEvent = Pick<AuditEvent, 'type' | 'userId' | 'actor' | 'ip' | 'data'>

async function appendEvents(tx: Executor, events: CheckedEvent[]): Promise<RecordedAuditEvent[]> {
  await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_APPEND_LOCK_KEY}::bigint)`)
  // A statement of its own after the lock: its snapshot sees the previous holder's commit.
  const [last] = await tx.select({ seq: auditEvents.seq, hash: auditEvents.hash })
    .from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1)
  // seq is counted here rather than drawn from the column's sequence: a rolled-back append would leave a
  // hole in the sequence, which verification could not tell from a deleted event.
  let previous = { seq: last?.seq ?? 0, hash: last?.hash ?? AUDIT_GENESIS_HASH }
  const rows = events.map((fields) => {
    const event = { ...fields, seq: previous.seq + 1, id: randomUUID(), createdAt: new Date(), prevHash: previous.hash }
    const row = { ...event, hash: hashAuditEvent(event) }
    previous = row
    return row
  })
  await tx.insert(auditEvents).values(rows)
  return rows.map(({ id, seq, hash }) => ({ id, seq, hash }))
}

const MAX_APPEND_BATCH = 200
const batchers = new WeakMap<Executor, AppendBatcher>()

/** One per database handle: a single transaction at a time appends whatever has queued up meanwhile. */
class AppendBatcher {
  private queue: Array<{ fields: CheckedEvent; resolve: (recorded: RecordedAuditEvent) => void; reject: (error: unknown) => void }> = []
  private flushing = false

  constructor(private readonly db: Executor) {}

  append(fields: CheckedEvent): Promise<RecordedAuditEvent> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fields, resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush() {
    this.flushing = true
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_APPEND_BATCH)
      try {
        const recorded = await this.db.transaction((tx) => appendEvents(tx, batch.map((waiting) => waiting.fields)))
        batch.forEach((waiting, i) => waiting.resolve(recorded[i]!))
      } catch (error) {
        for (const waiting of batch) waiting.reject(error)
      }
    }
    this.flushing = false
  }
}

/**
 * SHA-256, hex, of the canonical JSON (keys sorted, no spaces) of
 * `{ actor, createdAt, data, id, ip, prevHash, seq, type, userId, v: 1 }`, where createdAt is the ISO 8601
 * UTC text with milliseconds and absent values are null. Every value survives the trip through PostgreSQL
 * unchanged (checkEvent sees to it), so the hash can be recomputed from the stored row.
 */
export function hashAuditEvent(event: Omit<AuditEvent, 'hash'>): string {
  const input = canonicalJson({
    v: HASH_VERSION,
    seq: event.seq,
    id: event.id,
    type: event.type,
    userId: event.userId,
    actor: event.actor,
    ip: event.ip,
    data: event.data,
    createdAt: event.createdAt.toISOString(),
    prevHash: event.prevHash,
  })
  return createHash('sha256').update(input, 'utf8').digest('hex')
}

/** JSON with object keys in code-unit order and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new AuditEventRejected('a number in the audit event is not finite')
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
      const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      return `{${entries.join(',')}}`
    }
    default:
      throw new AuditEventRejected(`a ${typeof value} cannot be part of an audit event`)
  }
}

function checkEvent(event: AuditEventInput): CheckedEvent {
  if (typeof event.type !== 'string' || event.type.length > 100 || !TYPE_PATTERN.test(event.type)) {
    throw new AuditEventRejected('type must be a lower-case dotted name of at most 100 characters')
  }
  let userId: string | null = null
  if (event.userId !== undefined && event.userId !== null) {
    if (typeof event.userId !== 'string' || !UUID_PATTERN.test(event.userId)) throw new AuditEventRejected('userId must be a UUID')
    // PostgreSQL answers UUIDs in lower case; hashing any other spelling would not verify.
    userId = event.userId.toLowerCase()
  }
  return {
    type: event.type,
    userId,
    actor: checkText('actor', event.actor, MAX_ACTOR_LENGTH, true),
    ip: checkText('ip', event.ip, MAX_IP_LENGTH, false),
    data: checkData(event.data),
  }
}

function checkText(field: string, value: unknown, maxLength: number, screen: boolean): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new AuditEventRejected(`${field} must be a string`)
  if (value.length > maxLength) throw new AuditEventRejected(`${field} is longer than ${maxLength} characters`)
  if (unstorable(value)) throw new AuditEventRejected(`${field} contains a NUL or an unpaired surrogate`)
  if (screen && looksLikeContact(value)) throw new AuditEventRejected(`${field} looks like an email address or phone number in clear`)
  return value
}

function checkData(data: unknown): AuditData {
  // A copy, so that what is hashed is what is inserted whatever the caller does with its object.
  const copy: AuditData = {}
  if (data === undefined || data === null) return copy
  const proto = typeof data === 'object' ? Object.getPrototypeOf(data) : undefined
  if (proto !== Object.prototype && proto !== null) throw new AuditEventRejected('data must be a plain object')
  const keys = Object.keys(data as object)
  if (keys.length > MAX_DATA_KEYS) throw new AuditEventRejected(`data has more than ${MAX_DATA_KEYS} keys`)
  for (const key of keys) {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH || unstorable(key)) {
      throw new AuditEventRejected(`data keys must be 1 to ${MAX_KEY_LENGTH} storable characters`)
    }
    if (SECRET_KEYS.has(key.toLowerCase().replace(/[^a-z]/g, ''))) {
      throw new AuditEventRejected(`data.${key} names a secret; audit events never carry one`)
    }
    // Defined rather than assigned: a key named `__proto__` stays a key.
    Object.defineProperty(copy, key, { value: checkValue(key, (data as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true })
  }
  return copy
}

function checkValue(key: string, value: unknown): AuditValue {
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    // jsonb keeps decimals exactly while JavaScript rounds them to a double: with integers only, a stored
    // number that differs from the hashed one always reads back different too.
    if (!Number.isSafeInteger(value)) throw new AuditEventRejected(`data.${key} must be a safe integer (send other numbers as text)`)
    return value
  }
  if (typeof value === 'string') return checkText(`data.${key}`, value, MAX_STRING_LENGTH, true)
  throw new AuditEventRejected(`data.${key} must be a string, integer, boolean or null`)
}

function looksLikeContact(value: string): boolean {
  return CLEAR_EMAIL.test(value) || CLEAR_PHONE.test(value.replace(/[\s().-]/g, ''))
}

// --- Verification ------------------------------------------------------------------------------

/**
 * Walks the whole chain in `seq` order, a batch at a time, and reports the first event that breaks it:
 * `gap` (a seq is missing: an event was deleted), `prev_hash_mismatch` (the event does not point at its
 * predecessor: the predecessor was replaced or removed) or `hash_mismatch` (the event is not what was hashed).
 * Runs beside live appends: those land after the last seq read and are checked in a later batch.
 */
export async function verifyAuditChain(executor: Executor, options: { batchSize?: number } = {}): Promise<AuditChainVerification> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new RangeError('batchSize must be an integer from 1 to 100000')
  let count = 0
  let head: { seq: number; hash: string } | null = null
  for (;;) {
    const rows = await executor.select({ ...eventColumns, exact: exactlyAsHashed })
      .from(auditEvents)
      .where(head ? gt(auditEvents.seq, head.seq) : undefined)
      .orderBy(asc(auditEvents.seq))
      .limit(batchSize)
    for (const row of rows) {
      const reason = checkLink(row, head)
      if (reason) return { ok: false, count, brokenAt: { seq: row.seq, reason } }
      head = { seq: row.seq, hash: row.hash }
      count += 1
    }
    if (rows.length < batchSize) return { ok: true, count, head }
  }
}

function checkLink(row: StoredEvent & { exact: boolean }, previous: { seq: number; hash: string } | null): AuditChainBreak | null {
  if (row.seq !== (previous?.seq ?? 0) + 1) return 'gap'
  if (row.prevHash !== (previous?.hash ?? AUDIT_GENESIS_HASH)) return 'prev_hash_mismatch'
  if (!row.exact) return 'hash_mismatch'
  let expected: string
  try {
    expected = hashAuditEvent(row)
  } catch {
    return 'hash_mismatch' // an edited value no event could carry (a float, a nested value)
  }
  return expected === row.hash ? null : 'hash_mismatch'
}

/**
 * The row is read back exactly: no sub-millisecond time and no number in data that JavaScript would round.
 * Without this, an edit to `12.0000000000000000001` or to the microseconds would read back as the
 * hashed value and pass.
 */
const exactlyAsHashed = sql<boolean>`(date_trunc('milliseconds', ${auditEvents.createdAt}) = ${auditEvents.createdAt}
  and (jsonb_typeof(${auditEvents.data}) is distinct from 'object' or not exists (
    select 1 from jsonb_each(${auditEvents.data}) as entry
    where jsonb_typeof(entry.value) = 'number' and entry.value::text !~ '^-?(0|[1-9][0-9]{0,15})$')))`.mapWith((value: unknown) => value === true || value === 't')

// --- Listing -----------------------------------------------------------------------------------

const eventColumns = {
  seq: auditEvents.seq,
  id: auditEvents.id,
  type: auditEvents.type,
  userId: auditEvents.userId,
  actor: auditEvents.actor,
  ip: auditEvents.ip,
  data: auditEvents.data,
  createdAt: auditEvents.createdAt,
  prevHash: auditEvents.prevHash,
  hash: auditEvents.hash,
}
type StoredEvent = typeof auditEvents.$inferSelect

/**
 * Newest first. The cursor stands for "older than this event", so events appended between two pages never
 * shift the pages that follow: no event is skipped or repeated.
 */
export async function listAuditEvents(executor: Executor, query: AuditListQuery): Promise<AuditEventPage> {
  const { limit } = query
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ValidationFailed({ message: `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`, details: { field: 'limit' } })
  }
  const conditions: SQL[] = []
  if (query.cursor) conditions.push(lt(auditEvents.seq, decodeCursor(query.cursor)))
  if (query.userId) {
    if (!UUID_PATTERN.test(query.userId)) throw new ValidationFailed({ message: 'userId must be a UUID', details: { field: 'userId' } })
    conditions.push(eq(auditEvents.userId, query.userId.toLowerCase()))
  }
  if (query.type) conditions.push(eq(auditEvents.type, query.type))
  const rows = await executor.select(eventColumns).from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.seq))
    .limit(limit + 1)
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null }
}

const CURSOR_PREFIX = 'a1.'

function encodeCursor(seq: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${seq}`, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const seq = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : Number.NaN
  if (!Number.isSafeInteger(seq) || seq < 1 || encodeCursor(seq) !== cursor) {
    throw new ValidationFailed({ message: 'cursor is not one this list gave out', details: { field: 'cursor' } })
  }
  return seq
}
