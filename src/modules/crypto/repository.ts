import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Executor, Transaction } from '../../db/client.js'
import { cryptoKeys, type CryptoKey } from '../../db/schema/index.js'
import type { KeyAlgorithm, KeyStatus } from './algorithms.js'

export type NewCryptoKey = typeof cryptoKeys.$inferInsert

/**
 * Every change to the key table happens in a transaction holding this advisory lock, so two
 * instances starting at once cannot both create the active key of an algorithm, and a
 * master-key rotation cannot interleave with a new key being wrapped.
 */
const KEY_STORE_LOCK = 7_265_311

export async function lockKeyStore(tx: Transaction): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${KEY_STORE_LOCK})`)
}

export async function findKey(db: Executor, id: string): Promise<CryptoKey | undefined> {
  const [row] = await db.select().from(cryptoKeys).where(eq(cryptoKeys.id, id)).limit(1)
  return row
}

export async function findActiveKey(db: Executor, alg: KeyAlgorithm): Promise<CryptoKey | undefined> {
  const [row] = await db.select().from(cryptoKeys)
    .where(and(eq(cryptoKeys.alg, alg), eq(cryptoKeys.status, 'active')))
    .orderBy(desc(cryptoKeys.createdAt))
    .limit(1)
  return row
}

export async function listKeys(db: Executor, filter: { algs: readonly KeyAlgorithm[]; status?: KeyStatus }): Promise<CryptoKey[]> {
  const conditions = [inArray(cryptoKeys.alg, [...filter.algs])]
  if (filter.status) conditions.push(eq(cryptoKeys.status, filter.status))
  return db.select().from(cryptoKeys).where(and(...conditions)).orderBy(desc(cryptoKeys.createdAt), cryptoKeys.id)
}

export async function insertKey(db: Executor, row: NewCryptoKey): Promise<CryptoKey> {
  const [inserted] = await db.insert(cryptoKeys).values(row).returning()
  return inserted!
}

/** The active key of `alg`, if any, becomes `rotated`; returns the ids it demoted. */
export async function demoteActiveKeys(db: Executor, alg: KeyAlgorithm): Promise<string[]> {
  const rows = await db.update(cryptoKeys)
    .set({ status: 'rotated', rotatedAt: new Date() })
    .where(and(eq(cryptoKeys.alg, alg), eq(cryptoKeys.status, 'active')))
    .returning({ id: cryptoKeys.id })
  return rows.map((r) => r.id)
}

export async function retireKey(db: Executor, id: string): Promise<CryptoKey | undefined> {
  const [row] = await db.update(cryptoKeys)
    .set({ status: 'retired', retiredAt: new Date() })
    .where(and(eq(cryptoKeys.id, id), inArray(cryptoKeys.status, ['active', 'rotated'])))
    .returning()
  return row
}

/** Highest master-key version any stored key is wrapped with (null when the table is empty). */
export async function newestMasterKeyVersion(db: Executor): Promise<number | null> {
  const [row] = await db.select({ version: sql<number | null>`max(${cryptoKeys.masterKeyVersion})` }).from(cryptoKeys)
  return row?.version === null || row?.version === undefined ? null : Number(row.version)
}

export async function keysOfMasterKeyVersion(db: Executor, version: number, limit: number): Promise<CryptoKey[]> {
  return db.select().from(cryptoKeys).where(eq(cryptoKeys.masterKeyVersion, version)).orderBy(cryptoKeys.createdAt).limit(limit)
}

export async function allKeys(db: Executor): Promise<CryptoKey[]> {
  return db.select().from(cryptoKeys).orderBy(cryptoKeys.createdAt, cryptoKeys.id)
}

export async function updateWrapping(db: Executor, id: string, privateKeyWrapped: string, masterKeyVersion: number): Promise<void> {
  await db.update(cryptoKeys).set({ privateKeyWrapped, masterKeyVersion }).where(eq(cryptoKeys.id, id))
}
