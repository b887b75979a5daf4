import { and, desc, eq, gt, inArray, isNull, lt, sql, TransactionRollbackError } from 'drizzle-orm'
import type { Executor } from '../../db/client.js'
import { otpCodes, verificationFlows, type OtpCode, type VerificationFlow } from '../../db/schema/index.js'

export type Channel = 'email' | 'sms'

export async function findFlowByHash(db: Executor, flowHash: string): Promise<VerificationFlow | undefined> {
  const [flow] = await db.select().from(verificationFlows).where(eq(verificationFlows.flowHash, flowHash)).limit(1)
  return flow
}

export async function insertFlow(db: Executor, values: typeof verificationFlows.$inferInsert): Promise<VerificationFlow> {
  const [flow] = await db.insert(verificationFlows).values(values).returning()
  return flow!
}

/**
 * Serialises sends to one destination and from one address, so the hourly caps hold under concurrency.
 * Always destination first, then address: no two requests can wait on each other in a cycle.
 */
export async function lockSendKeys(tx: Executor, destinationHmac: string, ip: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${'otp-destination:' + destinationHmac}, 0))`)
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${'otp-ip:' + ip}, 0))`)
}

export interface SendCounts {
  destination: number
  ip: number
  /** Oldest send in the window for each key, to tell the client when to come back. */
  oldestDestinationAt: Date | null
  oldestIpAt: Date | null
}

/** Sends in the last hour (made or in progress; failed ones are deleted) per destination and per address. */
export async function countRecentSends(tx: Executor, destinationHmac: string, ip: string): Promise<SendCounts> {
  const window = sql`now() - interval '1 hour'`
  const [row] = await tx.select({
    destination: sql<number>`count(*) filter (where ${otpCodes.destinationHmac} = ${destinationHmac})::int`,
    ip: sql<number>`count(*) filter (where ${otpCodes.ip} = ${ip})::int`,
    oldestDestinationAt: sql<string | null>`min(${otpCodes.createdAt}) filter (where ${otpCodes.destinationHmac} = ${destinationHmac})`,
    oldestIpAt: sql<string | null>`min(${otpCodes.createdAt}) filter (where ${otpCodes.ip} = ${ip})`,
  }).from(otpCodes)
    .where(and(gt(otpCodes.createdAt, window), sql`(${otpCodes.destinationHmac} = ${destinationHmac} or ${otpCodes.ip} = ${ip})`))
  return {
    destination: Number(row?.destination ?? 0),
    ip: Number(row?.ip ?? 0),
    oldestDestinationAt: row?.oldestDestinationAt ? new Date(row.oldestDestinationAt) : null,
    oldestIpAt: row?.oldestIpAt ? new Date(row.oldestIpAt) : null,
  }
}

/** The newest code of this channel that went out (or is going out), for the resend cooldown. */
export async function latestCode(db: Executor, flowId: string, channel: Channel): Promise<OtpCode | undefined> {
  const [code] = await db.select().from(otpCodes)
    .where(and(eq(otpCodes.flowId, flowId), eq(otpCodes.channel, channel)))
    .orderBy(desc(otpCodes.createdAt))
    .limit(1)
  return code
}

export async function insertCode(db: Executor, values: typeof otpCodes.$inferInsert): Promise<OtpCode> {
  const [code] = await db.insert(otpCodes).values(values).returning()
  return code!
}

/**
 * The provider took the message: the new code is live and every older code of the channel is dead. One
 * statement (so atomic without a transaction of its own): the two updates touch different rows.
 */
export async function markCodeSent(db: Executor, code: OtpCode): Promise<void> {
  await db.execute(sql`
    with sent as (
      update ${otpCodes} set sent_at = now() where id = ${code.id}::uuid returning id
    )
    update ${otpCodes} set invalidated_at = now()
    where flow_id = ${code.flowId}::uuid and channel = ${code.channel}::text and id <> ${code.id}::uuid and invalidated_at is null`)
}

/** A flow whose first send failed: nobody holds its id (its codes go with it). */
export async function deleteFlow(db: Executor, flowId: string): Promise<void> {
  await db.delete(verificationFlows).where(eq(verificationFlows.id, flowId))
}

/**
 * Deletes at most `limit` flows that expired more than `graceSeconds` ago, with their codes and challenges
 * (by cascade); returns how many flows. Rows another transaction holds are skipped for a later batch.
 */
export async function deleteExpiredFlows(db: Executor, graceSeconds: number, limit: number): Promise<number> {
  const batch = db.select({ id: verificationFlows.id }).from(verificationFlows)
    .where(lt(verificationFlows.expiresAt, sql`now() - make_interval(secs => ${graceSeconds})`))
    .limit(limit)
    .for('update', { skipLocked: true })
  const rows = await db.delete(verificationFlows).where(inArray(verificationFlows.id, batch)).returning({ id: verificationFlows.id })
  return rows.length
}

/** The provider refused: as if the send never happened (no cooldown, no cap spent, the old code still works). */
export async function deleteCode(db: Executor, codeId: string): Promise<void> {
  await db.delete(otpCodes).where(eq(otpCodes.id, codeId))
}

/** The code a verification is checked against: the newest delivered one of the channel. */
export async function activeCode(db: Executor, flowId: string, channel: Channel): Promise<OtpCode | undefined> {
  const [code] = await db.select().from(otpCodes)
    .where(and(
      eq(otpCodes.flowId, flowId),
      eq(otpCodes.channel, channel),
      isNull(otpCodes.invalidatedAt),
      sql`${otpCodes.sentAt} is not null`,
    ))
    .orderBy(desc(otpCodes.sentAt))
    .limit(1)
  return code
}

/**
 * Spends one try atomically on both the code (5) and the flow (10). Conditional increments: parallel wrong
 * guesses can never push either count past its cap. Returns null when the code or flow was already dead.
 */
export async function recordFailure(db: Executor, codeId: string, flowId: string, codeCap: number, flowCap: number):
Promise<{ codeFailures: number; flowFailures: number } | null> {
  return db.transaction(async (tx) => {
    const [flow] = await tx.update(verificationFlows)
      .set({ failedAttempts: sql`${verificationFlows.failedAttempts} + 1` })
      .where(and(eq(verificationFlows.id, flowId), lt(verificationFlows.failedAttempts, flowCap)))
      .returning({ failedAttempts: verificationFlows.failedAttempts })
    if (!flow) return null
    const [code] = await tx.update(otpCodes)
      .set({ failedAttempts: sql`${otpCodes.failedAttempts} + 1` })
      .where(and(eq(otpCodes.id, codeId), lt(otpCodes.failedAttempts, codeCap)))
      .returning({ failedAttempts: otpCodes.failedAttempts })
    if (!code) {
      tx.rollback()
      return null
    }
    return { codeFailures: code.failedAttempts, flowFailures: flow.failedAttempts }
  }).catch((error: unknown) => {
    if (error instanceof TransactionRollbackError) return null
    throw error
  })
}

/**
 * Uses the code and marks the channel verified, in one statement (atomic without a transaction of its own).
 * The conditional update of the code is the single winner of parallel verifications with the right code;
 * the flow is marked only through it. Returns the flow as it now is, or null when the code was spent.
 */
export async function consumeCode(db: Executor, code: OtpCode, flow: VerificationFlow, codeCap: number, phoneHmac: string | null):
Promise<VerificationFlow | null> {
  const used = db.$with('used', { flowId: otpCodes.flowId }).as(sql`
    update ${otpCodes} set used_at = now()
    where id = ${code.id}::uuid and used_at is null and invalidated_at is null
      and failed_attempts < ${codeCap}::int and expires_at > now()
    returning flow_id`)
  const [updated] = await db.with(used).update(verificationFlows)
    .set(code.channel === 'email' ? { emailVerifiedAt: sql`now()` } : { phoneVerifiedAt: sql`now()`, phoneHmac })
    .where(and(eq(verificationFlows.id, flow.id), eq(verificationFlows.id, sql`(select flow_id from ${used})`)))
    .returning()
  return updated ?? null
}
