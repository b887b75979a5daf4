import { boolean, index, jsonb, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { vottery } from './vottery.js'
import { users } from './users.js'

/** A user's device: the `vt_device` cookie (stored as SHA-256) ties together its passkeys and sessions. */
export const devices = vottery.table('devices', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  cookieHash: text('cookie_hash').notNull(),
  fingerprintHash: text('fingerprint_hash'),
  name: text('name'),
  type: text('type').notNull().default('unknown'),
  os: text('os'),
  osVersion: text('os_version'),
  browser: text('browser'),
  browserVersion: text('browser_version'),
  userAgent: text('user_agent'),
  /** What the client said about itself, kept beside what the server derived. */
  declared: jsonb('declared').$type<Record<string, unknown>>(),
  lastIp: text('last_ip'),
  country: text('country'),
  region: text('region'),
  city: text('city'),
  trusted: boolean('trusted').notNull().default(false),
  firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
}, (t) => [
  uniqueIndex('devices_user_cookie_idx').on(t.userId, t.cookieHash),
  index('devices_fingerprint_idx').on(t.userId, t.fingerprintHash),
])

export type Device = typeof devices.$inferSelect

/**
 * The countries a user has been seen in (by any device, at any sign-in or refresh): a sign-in from a country
 * not in the list is worth an audit event. Kept apart from `devices`, whose country is only the latest one.
 */
export const userCountries = vottery.table('user_countries', {
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  /** ISO 3166-1 alpha-2. */
  country: text('country').notNull(),
  firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.userId, t.country] })])
