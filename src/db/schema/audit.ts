import { bigserial, index, jsonb, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core'
import { vottery } from './vottery.js'

export const activityLog = vottery.table('activity_log', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull(),
  type: text('type').notNull(),
  meta: jsonb('meta').$type<Record<string, unknown>>(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [index('activity_log_user_idx').on(t.userId, t.createdAt)])

/** What an audit event's `data` may hold: flat values only, never a secret or a contact in clear (see modules/users/audit.ts). */
export type AuditValue = string | number | boolean | null
export type AuditData = Record<string, AuditValue>

/**
 * Append-only and hash-chained: each event carries the hash of the one before it. Written only by
 * modules/users/audit.ts, which sets every column itself (seq counted under a lock, created_at at
 * millisecond precision) so that the hash can be recomputed from the stored row.
 */
export const auditEvents = vottery.table('audit_events', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: uuid('id').notNull().defaultRandom().unique(),
  type: text('type').notNull(),
  userId: uuid('user_id'),
  actor: text('actor'),
  ip: text('ip'),
  data: jsonb('data').$type<AuditData>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull(),
}, (t) => [
  index('audit_events_user_idx').on(t.userId, t.seq),
  index('audit_events_type_idx').on(t.type, t.seq),
  // The chain stays linear even if some future writer forgets the lock: two events cannot share a predecessor.
  unique('audit_events_prev_hash_unique').on(t.prevHash),
])
