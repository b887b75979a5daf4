import { bigint, boolean, index, integer, jsonb, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { bytea, vottery } from './vottery.js'
import { users } from './users.js'
import { devices } from './devices.js'

/**
 * An onboarding attempt on one device. The client holds `flowId`; only its SHA-256 is stored.
 * A decoy flow (unknown, inactive or banned account) has no Sngine user and can never verify.
 */
export const verificationFlows = vottery.table('verification_flows', {
  id: uuid('id').primaryKey().defaultRandom(),
  flowHash: text('flow_hash').notNull().unique(),
  deviceHash: text('device_hash').notNull(),
  sngineUserId: bigint('sngine_user_id', { mode: 'number' }),
  decoy: boolean('decoy').notNull().default(false),
  emailHmac: text('email_hmac').notNull(),
  emailVerifiedAt: timestamp('email_verified_at', { withTimezone: true }),
  phoneHmac: text('phone_hmac'),
  phoneVerifiedAt: timestamp('phone_verified_at', { withTimezone: true }),
  failedAttempts: integer('failed_attempts').notNull().default(0),
  ip: text('ip'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  consumedAt: timestamp('consumed_at', { withTimezone: true }),
}, (t) => [index('verification_flows_expires_idx').on(t.expiresAt)])

/** One code sent on one channel of a flow. Each row is also one send, which the hourly caps count. */
export const otpCodes = vottery.table('otp_codes', {
  id: uuid('id').primaryKey().defaultRandom(),
  flowId: uuid('flow_id').notNull().references(() => verificationFlows.id, { onDelete: 'cascade' }),
  channel: text('channel').notNull(),
  codeHmac: text('code_hmac'),
  destinationHmac: text('destination_hmac').notNull(),
  ip: text('ip'),
  failedAttempts: integer('failed_attempts').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** Set once the provider accepted the message; a row without it is a send in progress. */
  sentAt: timestamp('sent_at', { withTimezone: true }),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true }),
  invalidatedAt: timestamp('invalidated_at', { withTimezone: true }),
}, (t) => [
  index('otp_codes_flow_channel_idx').on(t.flowId, t.channel),
  index('otp_codes_destination_idx').on(t.destinationHmac, t.createdAt),
  index('otp_codes_ip_idx').on(t.ip, t.createdAt),
])

/**
 * A WebAuthn challenge handed out by the server, single-use. `registration` challenges belong to an
 * onboarding flow and expire with it; `authentication` challenges are bound to the `vt_device` cookie.
 */
export const webauthnChallenges = vottery.table('webauthn_challenges', {
  id: uuid('id').primaryKey().defaultRandom(),
  challenge: text('challenge').notNull().unique(),
  purpose: text('purpose').notNull(),
  flowId: uuid('flow_id').references(() => verificationFlows.id, { onDelete: 'cascade' }),
  deviceHash: text('device_hash'),
  /** Registration: the WebAuthn user handle offered (base64url); a first-time user gets the id it encodes. */
  userHandle: text('user_handle'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true }),
}, (t) => [
  index('webauthn_challenges_flow_idx').on(t.flowId),
  index('webauthn_challenges_expires_idx').on(t.expiresAt),
])

/** A passkey: only the public credential; biometrics never leave the device. */
export const webauthnCredentials = vottery.table('webauthn_credentials', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  deviceId: uuid('device_id').references(() => devices.id, { onDelete: 'set null' }),
  credentialId: text('credential_id').notNull().unique(),
  /** The WebAuthn user handle the authenticator keeps with the credential (base64url). */
  userHandle: text('user_handle').notNull(),
  publicKey: bytea('public_key').notNull(),
  counter: bigint('counter', { mode: 'number' }).notNull().default(0),
  transports: jsonb('transports').$type<string[]>(),
  aaguid: text('aaguid'),
  backupEligible: boolean('backup_eligible').notNull().default(false),
  backupState: boolean('backup_state').notNull().default(false),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  disabledAt: timestamp('disabled_at', { withTimezone: true }),
  disabledReason: text('disabled_reason'),
}, (t) => [index('webauthn_credentials_user_idx').on(t.userId), index('webauthn_credentials_device_idx').on(t.deviceId)])

export const sessions = vottery.table('sessions', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  deviceId: uuid('device_id').references(() => devices.id, { onDelete: 'set null' }),
  ip: text('ip'),
  userAgent: text('user_agent'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull().defaultNow(),
  idleExpiresAt: timestamp('idle_expires_at', { withTimezone: true }).notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  revokedReason: text('revoked_reason'),
}, (t) => [
  index('sessions_user_idx').on(t.userId),
  index('sessions_device_idx').on(t.deviceId),
  index('sessions_revoked_idx').on(t.revokedAt),
  // With the one above, the retention sweep finds long-ended sessions without scanning the table.
  index('sessions_expires_idx').on(t.expiresAt),
  index('sessions_idle_expires_idx').on(t.idleExpiresAt),
])

/** Every refresh token a session ever had, as SHA-256; a rotated one seen again is theft. */
export const refreshTokens = vottery.table('refresh_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  sessionId: uuid('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  rotatedAt: timestamp('rotated_at', { withTimezone: true }),
}, (t) => [uniqueIndex('refresh_tokens_hash_idx').on(t.tokenHash), index('refresh_tokens_session_idx').on(t.sessionId)])

export type VerificationFlow = typeof verificationFlows.$inferSelect
export type OtpCode = typeof otpCodes.$inferSelect
export type WebauthnCredential = typeof webauthnCredentials.$inferSelect
export type Session = typeof sessions.$inferSelect
export type RefreshToken = typeof refreshTokens.$inferSelect
export type WebauthnChallenge = typeof webauthnChallenges.$inferSelect
