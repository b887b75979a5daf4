import { and, desc, eq, gt, inArray, isNull, lt, ne, or, sql, type SQL } from 'drizzle-orm'
import { rowsOf, type Executor } from '../../db/client.js'
import {
  devices, refreshTokens, sessions, userRoles, users, webauthnCredentials,
  type Device, type RefreshToken, type Session, type User,
} from '../../db/schema/index.js'

export async function insertSession(db: Executor, values: typeof sessions.$inferInsert): Promise<Session> {
  const [session] = await db.insert(sessions).values(values).returning()
  return session!
}

export async function insertRefreshToken(db: Executor, sessionId: string, tokenHash: string): Promise<void> {
  await db.insert(refreshTokens).values({ sessionId, tokenHash })
}

/** What a refresh reads first: the token, its session, and the status and roles of the session's user. */
export interface FoundRefreshToken {
  token: RefreshToken
  session: Session
  userStatus: string
  /** The user's roles, sorted: they go into the new access token. */
  roles: string[]
}

function findRefreshTokenQuery(db: Executor) {
  return db.select({
    token: refreshTokens,
    session: sessions,
    userStatus: users.status,
    // JSON text, so that both drivers hand back the same thing.
    roles: sql<string>`coalesce((select json_agg(${userRoles.role} order by ${userRoles.role})::text from ${userRoles} where ${userRoles.userId} = ${users.id}), '[]')`,
  }).from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, sql.placeholder('tokenHash')))
    .limit(1)
    .prepare('find_refresh_token')
}

/** Built once per database handle, like the status query: a refresh is a hot path too. */
const findRefreshTokenQueries = new WeakMap<Executor, ReturnType<typeof findRefreshTokenQuery>>()

/**
 * The token, its session, and the status and roles of the session's user, in the one query a refresh makes
 * before it writes (the users and user_roles tables are the users module's; they are only read, for this).
 */
export async function findRefreshToken(db: Executor, tokenHash: string): Promise<FoundRefreshToken | undefined> {
  let query = findRefreshTokenQueries.get(db)
  if (!query) {
    query = findRefreshTokenQuery(db)
    findRefreshTokenQueries.set(db, query)
  }
  const [row] = await query.execute({ tokenHash })
  if (!row) return undefined
  return { ...row, roles: JSON.parse(row.roles) as string[] }
}

/**
 * A refresh's writes, in one statement: the token rotates (only an unrotated one: of concurrent refreshes with
 * it, one wins), the live session it belongs to is touched (last use and address; its idle deadline moves,
 * never past the absolute one), and the next token is stored. Returns the session as touched, or null when the
 * token had rotated meanwhile or the session ended (then nothing but the rotation, if any, is written).
 */
export async function renewSession(db: Executor, session: Session, input: { tokenId: string; ip: string; idleSeconds: number; nextTokenHash: string }): Promise<Session | null> {
  const result = await db.execute(sql`
    with rotated as (
      update ${refreshTokens} set rotated_at = now()
      where id = ${input.tokenId}::uuid and rotated_at is null
      returning session_id
    ), touched as (
      update ${sessions} set last_used_at = now(), ip = ${input.ip}::text,
        idle_expires_at = least(now() + make_interval(secs => ${input.idleSeconds}::int), expires_at)
      where id = (select session_id from rotated)
        and revoked_at is null and expires_at > now() and idle_expires_at > now()
      returning id, last_used_at, idle_expires_at
    ), issued as (
      insert into ${refreshTokens} (session_id, token_hash)
      select id, ${input.nextTokenHash}::text from touched
      returning id
    )
    select (extract(epoch from touched.last_used_at) * 1000)::float8 as "lastUsedAt",
      (extract(epoch from touched.idle_expires_at) * 1000)::float8 as "idleExpiresAt"
    from touched join issued on true`)
  const [row] = rowsOf<{ lastUsedAt: number; idleExpiresAt: number }>(result)
  if (!row) return null
  return { ...session, ip: input.ip, lastUsedAt: new Date(row.lastUsedAt), idleExpiresAt: new Date(row.idleExpiresAt) }
}

export async function findSession(db: Executor, id: string): Promise<Session | undefined> {
  const [session] = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1)
  return session
}

const live = () => and(isNull(sessions.revokedAt), gt(sessions.expiresAt, sql`now()`), gt(sessions.idleExpiresAt, sql`now()`))

export async function liveSessionsOf(db: Executor, userId: string): Promise<Session[]> {
  return db.select().from(sessions).where(and(eq(sessions.userId, userId), live())).orderBy(desc(sessions.lastUsedAt))
}

/** What `GET /auth/status` shows of a signed-in request, read by {@link findSignedInStatus}. */
export interface SignedInRow {
  session: Session
  user: User
  device: Device
  /** The user's roles, sorted. */
  roles: string[]
  /** Whether the device holds a passkey that is not disabled. */
  hasPasskey: boolean
}

function signedInStatusQuery(db: Executor) {
  return db.select({
    session: sessions,
    user: users,
    device: devices,
    // JSON text, so that both drivers hand back the same thing.
    roles: sql<string>`coalesce((select json_agg(${userRoles.role} order by ${userRoles.role})::text from ${userRoles} where ${userRoles.userId} = ${users.id}), '[]')`,
    hasPasskey: sql<boolean>`exists (select 1 from ${webauthnCredentials} where ${webauthnCredentials.deviceId} = ${devices.id} and ${webauthnCredentials.disabledAt} is null)`,
  }).from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(devices, eq(devices.id, sessions.deviceId))
    .where(and(eq(sessions.id, sql.placeholder('sessionId')), eq(sessions.userId, sql.placeholder('userId')), live()))
    .limit(1)
    .prepare('signed_in_status')
}

/** Built once per database handle: building the SQL text cost more than running it. */
const signedInStatusQueries = new WeakMap<Executor, ReturnType<typeof signedInStatusQuery>>()

/**
 * The live session `sessionId` of `userId`, with its user, its device, the user's roles and whether the
 * device holds a usable passkey: everything the status shows, in one statement (the status is the path
 * every signed-in page load takes). The users and devices tables are read here, never written; their
 * modules build the views from these rows.
 */
export async function findSignedInStatus(db: Executor, sessionId: string, userId: string): Promise<SignedInRow | undefined> {
  let query = signedInStatusQueries.get(db)
  if (!query) {
    query = signedInStatusQuery(db)
    signedInStatusQueries.set(db, query)
  }
  const [row] = await query.execute({ sessionId, userId })
  if (!row) return undefined
  return { ...row, roles: JSON.parse(row.roles) as string[], hasPasskey: row.hasPasskey === true }
}

export type SessionScope =
  | { sessionId: string; userId?: string }
  | { userId: string; exceptSessionId?: string }
  | { deviceId: string }

function scopeCondition(scope: SessionScope): SQL {
  if ('sessionId' in scope) {
    return scope.userId ? and(eq(sessions.id, scope.sessionId), eq(sessions.userId, scope.userId))! : eq(sessions.id, scope.sessionId)
  }
  if ('deviceId' in scope) return eq(sessions.deviceId, scope.deviceId)
  return scope.exceptSessionId ? and(eq(sessions.userId, scope.userId), ne(sessions.id, scope.exceptSessionId))! : eq(sessions.userId, scope.userId)
}

/** Ends the live sessions in scope; returns the ids it ended (not those already over). */
export async function revokeSessions(db: Executor, scope: SessionScope, reason: string): Promise<string[]> {
  const rows = await db.update(sessions).set({ revokedAt: sql`now()`, revokedReason: reason })
    .where(and(scopeCondition(scope), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id })
  return rows.map((row) => row.id)
}

/** Sessions revoked within the last `seconds`: their access tokens may still be unexpired. */
export async function recentlyRevokedSessionIds(db: Executor, seconds: number): Promise<string[]> {
  const rows = await db.select({ id: sessions.id }).from(sessions)
    .where(gt(sessions.revokedAt, sql`now() - make_interval(secs => ${seconds})`))
  return rows.map((row) => row.id)
}

/** Those of `userIds` that have a session not yet revoked nor expired. */
export async function usersWithLiveSessions(db: Executor, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return []
  const rows = await db.selectDistinct({ userId: sessions.userId }).from(sessions)
    .where(and(inArray(sessions.userId, userIds), live()))
  return rows.map((row) => row.userId)
}

export async function sessionsByIds(db: Executor, ids: string[]): Promise<Session[]> {
  if (ids.length === 0) return []
  return db.select().from(sessions).where(inArray(sessions.id, ids))
}

/**
 * Sessions that ended (revoked, expired, or idle too long) more than `seconds` ago. Each arm has an index
 * of its own, so the planner can combine them rather than scan the table.
 */
function endedBefore(seconds: number): SQL {
  const cutoff = sql`now() - make_interval(secs => ${seconds})`
  return or(lt(sessions.revokedAt, cutoff), lt(sessions.expiresAt, cutoff), lt(sessions.idleExpiresAt, cutoff))!
}

/**
 * Deletes at most `limit` refresh tokens of sessions that ended more than `seconds` ago; returns how many.
 * A session refreshed every few minutes for weeks has thousands: they go here in bounded batches, not in one
 * cascade from the session. Rows another transaction holds are skipped for a later batch.
 */
export async function deleteRefreshTokensOfEndedSessions(db: Executor, seconds: number, limit: number): Promise<number> {
  const ended = db.select({ id: sessions.id }).from(sessions).where(endedBefore(seconds))
  const batch = db.select({ id: refreshTokens.id }).from(refreshTokens)
    .where(inArray(refreshTokens.sessionId, ended))
    .limit(limit)
    .for('update', { skipLocked: true })
  const rows = await db.delete(refreshTokens).where(inArray(refreshTokens.id, batch)).returning({ id: refreshTokens.id })
  return rows.length
}

/**
 * Deletes at most `limit` sessions that ended more than `seconds` ago (and by cascade whatever refresh tokens
 * they still have); returns how many. A live session is never touched: none of its deadlines is past.
 */
export async function deleteEndedSessions(db: Executor, seconds: number, limit: number): Promise<number> {
  const batch = db.select({ id: sessions.id }).from(sessions)
    .where(endedBefore(seconds))
    .limit(limit)
    .for('update', { skipLocked: true })
  const rows = await db.delete(sessions).where(inArray(sessions.id, batch)).returning({ id: sessions.id })
  return rows.length
}
