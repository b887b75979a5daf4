import { customType, index, integer, text, timestamp } from 'drizzle-orm/pg-core'
import { vottery } from './vottery.js'

/**
 * Keys of the crypto module. Private material only wrapped by the master key
 * (AES-256-GCM), with the master key version that wrapped it.
 */
export const cryptoKeys = vottery.table('crypto_keys', {
  id: text('id').primaryKey(),
  alg: text('alg').notNull(),
  use: text('use').notNull(),
  status: text('status').notNull().default('active'),
  publicKey: text('public_key'),
  privateKeyWrapped: text('private_key_wrapped').notNull(),
  masterKeyVersion: integer('master_key_version').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  rotatedAt: timestamp('rotated_at', { withTimezone: true }),
  retiredAt: timestamp('retired_at', { withTimezone: true }),
}, (t) => [index('crypto_keys_alg_status_idx').on(t.alg, t.use, t.status)])

export type CryptoKey = typeof cryptoKeys.$inferSelect

/**
 * A value sealed by the crypto module's field encryption (`fastify.crypto.seal`): AES-256-GCM under a
 * data key, the key id carried with it. Only the crypto module makes one, so a query cannot store
 * clear text in a sealed column by mistake, nor read one back as if it were clear.
 */
export type Sealed = string & { readonly __sealed: unique symbol }

/** A text column holding a `Sealed` value: `email_enc: sealed('email_enc')`. */
export const sealed = customType<{ data: Sealed; driverData: string }>({
  dataType: () => 'text',
})
