import { and, asc, desc, eq, getTableColumns, gt, inArray, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../../db/client.js'
import { activityLog, userProfiles, userRoles, users, type User } from '../../db/schema/index.js'
import type { Position } from '../../pagination.js'

export type UserProfile = typeof userProfiles.$inferSelect
export type ActivityEntry = typeof activityLog.$inferSelect

// Timestamps compare at millisecond precision, the precision a cursor carries.
const msOf = (column: typeof users.createdAt | typeof activityLog.createdAt) => sql`date_trunc('milliseconds', ${column})`

function before(column: typeof users.createdAt | typeof activityLog.createdAt, id: typeof users.id | typeof activityLog.id, position: Position | null): SQL | undefined {
  if (!position) return undefined
  return sql`(${msOf(column)}, ${id}) < (${position.at.toISOString()}::timestamptz, ${position.id}::uuid)`
}

export async function findUserByEmailHmac(db: Executor, emailHmac: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.emailHmac, emailHmac)).limit(1)
  return user
}

export async function rolesOfMany(db: Executor, userIds: string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(userIds.map((id) => [id, []]))
  if (userIds.length === 0) return map
  const rows = await db.select({ userId: userRoles.userId, role: userRoles.role }).from(userRoles)
    .where(inArray(userRoles.userId, userIds)).orderBy(userRoles.role)
  for (const row of rows) map.get(row.userId)?.push(row.role)
  return map
}

export async function findProfile(db: Executor, userId: string): Promise<UserProfile | undefined> {
  const [profile] = await db.select().from(userProfiles).where(eq(userProfiles.userId, userId)).limit(1)
  return profile
}

export async function upsertProfile(db: Executor, userId: string, values: Partial<Omit<UserProfile, 'userId'>>): Promise<UserProfile> {
  const [profile] = await db.insert(userProfiles).values({ userId, ...values, updatedAt: new Date() })
    .onConflictDoUpdate({ target: userProfiles.userId, set: { ...values, updatedAt: new Date() } })
    .returning()
  return profile!
}

export async function setDisplayName(db: Executor, userId: string, displayName: string): Promise<void> {
  await db.update(users).set({ displayName, updatedAt: new Date() }).where(eq(users.id, userId))
}

export async function replaceRoles(db: Executor, userId: string, roles: string[], grantedBy: string): Promise<void> {
  await db.delete(userRoles).where(and(eq(userRoles.userId, userId), notInArray(userRoles.role, roles)))
  await db.insert(userRoles).values(roles.map((role) => ({ userId, role, grantedBy }))).onConflictDoNothing()
}

export async function listUsers(db: Executor, options: { limit: number; after: Position | null; emailHmac?: string }): Promise<User[]> {
  const conditions = [before(users.createdAt, users.id, options.after), options.emailHmac ? eq(users.emailHmac, options.emailHmac) : undefined]
  return db.select().from(users).where(and(...conditions))
    .orderBy(desc(msOf(users.createdAt)), desc(users.id)).limit(options.limit + 1)
}

export async function insertActivity(db: Executor, values: { userId: string; type: string; meta: Record<string, unknown> | null }): Promise<ActivityEntry> {
  // Created in JS at millisecond precision, which is what cursors carry.
  const [entry] = await db.insert(activityLog).values({ ...values, createdAt: new Date() }).returning()
  return entry!
}

export async function listActivity(db: Executor, userId: string, options: { limit: number; after: Position | null }): Promise<ActivityEntry[]> {
  return db.select().from(activityLog)
    .where(and(eq(activityLog.userId, userId), before(activityLog.createdAt, activityLog.id, options.after)))
    .orderBy(desc(msOf(activityLog.createdAt)), desc(activityLog.id)).limit(options.limit + 1)
}

export async function findUserById(db: Executor, id: string): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1)
  return user
}

export async function findUserBySngineId(db: Executor, sngineUserId: number): Promise<User | undefined> {
  const [user] = await db.select().from(users).where(eq(users.sngineUserId, sngineUserId)).limit(1)
  return user
}

/**
 * Creates the user linked to a Sngine account, or, when one exists (a later device, or a race with
 * another device of the same person), refreshes the contact details that were just proven.
 * The display name of an existing user is theirs to change and is left alone.
 * `created` tells the two apart: a row this statement inserted has no `xmax`, one it updated has.
 */
export async function upsertUserFromSngine(db: Executor, values: typeof users.$inferInsert): Promise<{ user: User; created: boolean }> {
  const [row] = await db.insert(users).values(values)
    .onConflictDoUpdate({
      target: users.sngineUserId,
      set: {
        emailHmac: sql`excluded.email_hmac`,
        emailEnc: sql`excluded.email_enc`,
        phoneHmac: sql`excluded.phone_hmac`,
        phoneEnc: sql`excluded.phone_enc`,
        updatedAt: sql`now()`,
      },
    })
    .returning({ ...getTableColumns(users), created: sql<boolean>`(xmax = 0)` })
  const { created, ...user } = row!
  return { user, created: Boolean(created) }
}

export async function grantRole(db: Executor, userId: string, role: string, grantedBy: string): Promise<void> {
  await db.insert(userRoles).values({ userId, role, grantedBy }).onConflictDoNothing()
}

export async function rolesOf(db: Executor, userId: string): Promise<string[]> {
  const rows = await db.select({ role: userRoles.role }).from(userRoles).where(eq(userRoles.userId, userId)).orderBy(asc(userRoles.role))
  return rows.map((row) => row.role)
}

/**
 * Notes a sign-in of an active user; undefined when the user is not active (any more). The row lock this
 * takes orders the sign-in with a concurrent suspension: either the suspension waits and then ends the
 * new session too, or this sees the suspension and the sign-in's transaction is abandoned.
 */
export async function recordLogin(db: Executor, userId: string): Promise<User | undefined> {
  const [user] = await db.update(users).set({ lastLoginAt: sql`now()` })
    .where(and(eq(users.id, userId), eq(users.status, 'active'))).returning()
  return user
}

export interface UserStanding {
  id: string
  sngineUserId: number
  status: string
}

/** The next `limit` users after `afterId` in id order: what reconciliation with Sngine walks through. */
export async function standingsAfter(db: Executor, afterId: string | null, limit: number): Promise<UserStanding[]> {
  return db.select({ id: users.id, sngineUserId: users.sngineUserId, status: users.status }).from(users)
    .where(afterId ? gt(users.id, afterId) : undefined).orderBy(asc(users.id)).limit(limit)
}

/** Moves a user from one status to another; false when the user was not in `from` (someone else moved it). */
export async function changeStatus(db: Executor, userId: string, from: string, to: string): Promise<boolean> {
  const rows = await db.update(users).set({ status: to, updatedAt: sql`now()` })
    .where(and(eq(users.id, userId), eq(users.status, from))).returning({ id: users.id })
  return rows.length > 0
}
