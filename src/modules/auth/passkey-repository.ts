import { and, desc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { Executor } from '../../db/client.js'
import {
  verificationFlows, webauthnChallenges, webauthnCredentials, type WebauthnChallenge, type WebauthnCredential,
} from '../../db/schema/index.js'

export type ChallengePurpose = 'registration' | 'authentication'

export async function insertChallenge(db: Executor, values: typeof webauthnChallenges.$inferInsert): Promise<void> {
  await db.insert(webauthnChallenges).values(values)
}

/** The user handle already offered in this flow, so every set of options names the same future user. */
export async function offeredUserHandle(db: Executor, flowId: string): Promise<string | null> {
  const [row] = await db.select({ userHandle: webauthnChallenges.userHandle }).from(webauthnChallenges)
    .where(and(eq(webauthnChallenges.flowId, flowId), eq(webauthnChallenges.purpose, 'registration')))
    .orderBy(desc(webauthnChallenges.createdAt))
    .limit(1)
  return row?.userHandle ?? null
}

/**
 * Spends every outstanding registration challenge of a flow at once: whatever the outcome of the
 * verification that follows, none of them can be answered again. Returns the ones spent.
 */
export async function spendRegistrationChallenges(db: Executor, flowId: string): Promise<WebauthnChallenge[]> {
  return db.update(webauthnChallenges).set({ usedAt: sql`now()` })
    .where(and(eq(webauthnChallenges.flowId, flowId), eq(webauthnChallenges.purpose, 'registration'), isNull(webauthnChallenges.usedAt)))
    .returning()
}

/** Spends one sign-in challenge of this device; only the first caller gets it, and only before it expires. */
export async function spendAuthenticationChallenge(db: Executor, challenge: string, deviceHash: string): Promise<WebauthnChallenge | undefined> {
  const [spent] = await db.update(webauthnChallenges).set({ usedAt: sql`now()` })
    .where(and(
      eq(webauthnChallenges.challenge, challenge),
      eq(webauthnChallenges.purpose, 'authentication'),
      eq(webauthnChallenges.deviceHash, deviceHash),
      isNull(webauthnChallenges.usedAt),
      gt(webauthnChallenges.expiresAt, sql`now()`),
    ))
    .returning()
  return spent
}

/**
 * Deletes at most `limit` challenges past their expiry (flow challenges also go with their flow); returns how
 * many. Rows another transaction holds are skipped, not waited for: the next batch or sweep takes them.
 */
export async function deleteExpiredChallenges(db: Executor, limit: number): Promise<number> {
  const batch = db.select({ id: webauthnChallenges.id }).from(webauthnChallenges)
    .where(lt(webauthnChallenges.expiresAt, sql`now()`))
    .limit(limit)
    .for('update', { skipLocked: true })
  const rows = await db.delete(webauthnChallenges).where(inArray(webauthnChallenges.id, batch)).returning({ id: webauthnChallenges.id })
  return rows.length
}

export async function findCredential(db: Executor, credentialId: string): Promise<WebauthnCredential | undefined> {
  const [credential] = await db.select().from(webauthnCredentials).where(eq(webauthnCredentials.credentialId, credentialId)).limit(1)
  return credential
}

export async function usableCredentialsOf(db: Executor, userId: string): Promise<WebauthnCredential[]> {
  return db.select().from(webauthnCredentials)
    .where(and(eq(webauthnCredentials.userId, userId), isNull(webauthnCredentials.disabledAt)))
}

/** Null when the credential id is already registered (to anyone). */
export async function insertCredential(db: Executor, values: typeof webauthnCredentials.$inferInsert): Promise<WebauthnCredential | null> {
  const [credential] = await db.insert(webauthnCredentials).values(values).onConflictDoNothing({ target: webauthnCredentials.credentialId }).returning()
  return credential ?? null
}

/**
 * Records a verified use: the counter only ever moves forward (or stays at 0 for authenticators that
 * never count), so of two assertions racing with the same counter at most one gets through.
 */
export async function recordCredentialUse(db: Executor, id: string, counter: number, backupState: boolean): Promise<boolean> {
  const rows = await db.update(webauthnCredentials)
    .set({ counter, backupState, lastUsedAt: sql`now()` })
    .where(and(
      eq(webauthnCredentials.id, id),
      isNull(webauthnCredentials.disabledAt),
      counter === 0 ? eq(webauthnCredentials.counter, 0) : lt(webauthnCredentials.counter, counter),
    ))
    .returning({ id: webauthnCredentials.id })
  return rows.length > 0
}

export async function disableCredential(db: Executor, id: string, reason: string): Promise<void> {
  await db.update(webauthnCredentials).set({ disabledAt: sql`now()`, disabledReason: reason })
    .where(and(eq(webauthnCredentials.id, id), isNull(webauthnCredentials.disabledAt)))
}

export async function disableDeviceCredentials(db: Executor, deviceId: string, reason: string): Promise<number> {
  const rows = await db.update(webauthnCredentials).set({ disabledAt: sql`now()`, disabledReason: reason })
    .where(and(eq(webauthnCredentials.deviceId, deviceId), isNull(webauthnCredentials.disabledAt)))
    .returning({ id: webauthnCredentials.id })
  return rows.length
}

export async function disableUserCredentials(db: Executor, userId: string, reason: string): Promise<number> {
  const rows = await db.update(webauthnCredentials).set({ disabledAt: sql`now()`, disabledReason: reason })
    .where(and(eq(webauthnCredentials.userId, userId), isNull(webauthnCredentials.disabledAt)))
    .returning({ id: webauthnCredentials.id })
  return rows.length
}

/** Ends a flow for good; false when another request finished it first. */
export async function consumeFlow(db: Executor, flowId: string): Promise<boolean> {
  const rows = await db.update(verificationFlows).set({ consumedAt: sql`now()` })
    .where(and(eq(verificationFlows.id, flowId), isNull(verificationFlows.consumedAt), gt(verificationFlows.expiresAt, sql`now()`)))
    .returning({ id: verificationFlows.id })
  return rows.length > 0
}
