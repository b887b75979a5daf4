import { sql } from 'drizzle-orm'
import { bigint, index, jsonb, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { vottery } from './vottery.js'

/** A person who finished onboarding; linked one-to-one to a Sngine account. Email and phone only as HMAC + ciphertext. */
export const users = vottery.table('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  sngineUserId: bigint('sngine_user_id', { mode: 'number' }).notNull().unique(),
  displayName: text('display_name'),
  emailHmac: text('email_hmac').notNull(),
  emailEnc: text('email_enc').notNull(),
  phoneHmac: text('phone_hmac'),
  phoneEnc: text('phone_enc'),
  status: text('status').notNull().default('active'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
}, (t) => [index('users_email_hmac_idx').on(t.emailHmac)])

export const userProfiles = vottery.table('user_profiles', {
  userId: uuid('user_id').primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  bio: text('bio'),
  avatarUrl: text('avatar_url'),
  preferences: jsonb('preferences').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  language: text('language'),
  /** AES-256-GCM ciphertext of the demographics object (crypto module field encryption). */
  demographicsEnc: text('demographics_enc'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
})

export const userRoles = vottery.table('user_roles', {
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: text('role').notNull(),
  grantedAt: timestamp('granted_at', { withTimezone: true }).notNull().defaultNow(),
  grantedBy: text('granted_by'),
}, (t) => [primaryKey({ columns: [t.userId, t.role] })])

export type User = typeof users.$inferSelect
export type NewUser = typeof users.$inferInsert
