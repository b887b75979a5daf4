import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Type, type Static } from 'typebox'
import type { Config } from '../../config.js'
import type { Database, DatabaseHandle, Executor } from '../../db/client.js'
import type { Session } from '../../db/schema/index.js'
import type { IssuedAccessToken, RevokedSessions, TokenService } from '../crypto/tokens.js'
import type { Metrics } from '../../plugins/metrics.js'
import type { AuditSink } from './flow-service.js'
import { AccountSuspended, logSideFailure } from '../../errors.js'
import { InvalidRefreshToken, RefreshTokenReused } from './errors.js'
import * as repo from './session-repository.js'
import { sha256 } from './webauthn.js'
import { newCountryEvent, type DeviceService } from '../devices/service.js'

/** PostgreSQL channel on which every instance hears of revoked sessions. */
export const REVOCATION_CHANNEL = 'vottery_sessions_revoked'
/** The fallback when a notification is missed (a dropped listening connection): re-read the table this often. */
export const REVOCATION_RESYNC_MS = 30_000
/** Clocks of instances and database differ a little: revocations are kept this much longer than a token lives. */
const REVOCATION_SLACK_SECONDS = 60
/** Session ids per notification, well under PostgreSQL's 8000-byte payload limit. */
const IDS_PER_NOTIFICATION = 100
const REFRESH_TOKEN_BYTES = 32
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The contract's `Session`. */
export const SessionView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  deviceId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time', description: 'When the session ends unless used again (idle), never later than its absolute end' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'The session of the access token making this request' }),
}, { $id: 'Session', description: 'A signed-in session' })
export type SessionView = Static<typeof SessionView>

export interface SessionServiceDeps {
  db: Database
  database: Pick<DatabaseHandle, 'listen' | 'notify'>
  config: Config
  tokens: Pick<TokenService, 'signer'>
  revokedSessions: RevokedSessions
  /** The user's current roles, put into every access token (read through `db` when given: a transaction). */
  rolesOf: (userId: string, db?: Executor) => Promise<string[]>
  log: FastifyBaseLogger
  metrics?: Metrics
  audit?: AuditSink
  /** The devices module: a refresh is a sighting of the session's device too. */
  devices?: Pick<DeviceService, 'recordRefresh'>
}

export interface OpenedSession {
  session: Session
  /** The opaque refresh token for the `vt_refresh` cookie; only its SHA-256 is stored. */
  refreshToken: string
}

export interface RefreshedSession extends OpenedSession {
  accessToken: IssuedAccessToken
}

/** Why a session ended; kept in `sessions.revoked_reason`. */
export type RevocationReason =
  | 'logout' | 'session_deleted' | 'signed_out_elsewhere' | 'refresh_token_reused' | 'device_removed' | 'user_disabled' | 'user_suspended'
  | (string & {})

/**
 * What other modules call as `fastify.sessions`. A session is opened by a sign-in, renewed with rotating
 * refresh tokens, and ended by logout, by the user, by theft detection or by other modules (a removed
 * device, a disabled user). An ended session's access tokens stop working on every instance within
 * seconds: the revocation is announced on a PostgreSQL channel and re-read from the table periodically.
 */
export class SessionService {
  private stopListening: (() => Promise<void>) | null = null
  private resyncTimer: NodeJS.Timeout | null = null

  constructor(private readonly deps: SessionServiceDeps) {}

  /** A new session and its first refresh token, inside the caller's transaction. */
  async open(tx: Executor, input: { userId: string; deviceId: string | null; ip: string; userAgent?: string }): Promise<OpenedSession> {
    const { refreshIdleTtl, refreshAbsoluteTtl } = this.deps.config.tokens
    const now = Date.now()
    const session = await repo.insertSession(tx, {
      userId: input.userId,
      deviceId: input.deviceId,
      ip: input.ip,
      userAgent: input.userAgent?.slice(0, 512) ?? null,
      idleExpiresAt: new Date(now + refreshIdleTtl * 1000),
      expiresAt: new Date(now + refreshAbsoluteTtl * 1000),
    })
    const refreshToken = newRefreshToken()
    await repo.insertRefreshToken(tx, session.id, sha256(refreshToken))
    return { session, refreshToken }
  }

  /**
   * Issues access tokens inside a transaction: roles are read through it, and the signing key is loaded now,
   * before the transaction, so issuing never asks the pool for a second connection while one is held.
   */
  async tokenIssuer(): Promise<(session: Session, tx: Executor, roles?: readonly string[]) => Promise<IssuedAccessToken>> {
    const sign = await this.deps.tokens.signer()
    return async (session, tx, roles) => sign({ userId: session.userId, sessionId: session.id, roles: roles ?? await this.deps.rolesOf(session.userId, tx) })
  }

  /**
   * Trades a refresh token for a new one and an access token. A token already traded is the mark of a
   * copy in other hands: the whole session ends. Of concurrent refreshes with one token, one wins; the
   * others are refused without ending the session (the winner is as likely the owner as not, and the
   * owner's next use of the old token, if it was not theirs, ends it anyway).
   */
  async refresh(refreshToken: string | null, ip: string): Promise<RefreshedSession> {
    if (!refreshToken || !REFRESH_TOKEN.test(refreshToken)) throw new InvalidRefreshToken()
    const found = await repo.findRefreshToken(this.deps.db, sha256(refreshToken))
    if (!found) throw new InvalidRefreshToken()
    const { token, session, userStatus, roles } = found
    // The user module's `active` (users.status); read by the same query, so the check costs nothing.
    if (userStatus !== 'active') throw new AccountSuspended({ details: { status: userStatus } })
    if (session.revokedAt) throw new InvalidRefreshToken({ message: 'This session has ended; sign in again' })
    if (token.rotatedAt) {
      const ended = await this.revoke({ sessionId: session.id }, 'refresh_token_reused')
      if (ended.length > 0) {
        this.deps.metrics?.refreshReuse.inc()
        this.deps.log.warn({ sessionId: session.id, userId: session.userId, ip }, 'refresh token reused: session revoked')
        await this.audit({ type: 'session.refresh_token_reused', userId: session.userId, ip, data: { session: session.id } })
      }
      throw new RefreshTokenReused()
    }
    const now = Date.now()
    if (session.expiresAt.getTime() <= now || session.idleExpiresAt.getTime() <= now) {
      throw new InvalidRefreshToken({ message: 'This session has expired; sign in again' })
    }

    const next = newRefreshToken()
    const { devices, db } = this.deps
    // The reply is complete before the rotation is written: the rotation, the session's touch and the next token
    // go in one statement (repo.renewSession), so no failure can fall between the rotation and the reply. Were
    // anything read after it, a failure there (the database going away) would answer 503 with the old cookie left
    // in place, and the client's retry would present a rotated token: the session would end as if it were stolen.
    const accessToken = await (await this.tokenIssuer())(session, db, roles)
    const [renewed, newCountry] = await Promise.all([
      repo.renewSession(db, session, { tokenId: token.id, ip, idleSeconds: this.deps.config.tokens.refreshIdleTtl, nextTokenHash: sha256(next) }),
      // The device's last address, time and location move with its session's, beside the renewal: bookkeeping
      // that must not fail a refresh, and that a refresh refused meanwhile (a race lost) leaves harmless.
      devices && session.deviceId
        ? devices.recordRefresh(db, { userId: session.userId, deviceId: session.deviceId, ip }).catch((error: unknown) => {
          logSideFailure(this.deps.log, error, { sessionId: session.id }, 'device not updated on refresh')
          return null
        })
        : null,
    ])
    // Lost the race to another refresh with the same token, or the session ended meanwhile.
    if (!renewed) throw new InvalidRefreshToken()
    if (newCountry) {
      await this.audit(newCountryEvent({ userId: session.userId, deviceId: session.deviceId!, country: newCountry, ip, via: 'refresh' }))
    }
    return { session: renewed, refreshToken: next, accessToken }
  }

  /** Logout by cookie: ends the session the refresh token (current or already rotated) belongs to. */
  async endByRefreshToken(refreshToken: string | null, reason: RevocationReason = 'logout'): Promise<Session | null> {
    if (!refreshToken || !REFRESH_TOKEN.test(refreshToken)) return null
    const found = await repo.findRefreshToken(this.deps.db, sha256(refreshToken))
    if (!found) return null
    await this.revoke({ sessionId: found.session.id }, reason)
    return found.session
  }

  /** Ends one session; with `userId`, only if it is that user's. True when a live session was ended. */
  async revokeSession(sessionId: string, reason: RevocationReason, userId?: string): Promise<boolean> {
    return (await this.revoke(userId ? { sessionId, userId } : { sessionId }, reason)).length > 0
  }

  /** Ends every session of a user, or every other one. Returns the ids ended. */
  revokeUserSessions(userId: string, reason: RevocationReason, options: { exceptSessionId?: string } = {}): Promise<string[]> {
    return this.revoke({ userId, exceptSessionId: options.exceptSessionId }, reason)
  }

  /**
   * Ends every session opened on a device (the devices module, when a device is removed); returns the ids
   * ended. Given the caller's transaction, the revocation is only written there: nothing is announced
   * before the transaction commits, so the caller calls `announceRevocations` once it has.
   */
  async revokeDeviceSessions(deviceId: string, reason: RevocationReason = 'device_removed', tx?: Executor): Promise<string[]> {
    if (!tx) return this.revoke({ deviceId }, reason)
    return repo.revokeSessions(tx, { deviceId }, reason)
  }

  /** The session, if it is still live (not revoked, not expired). */
  async findLive(sessionId: string): Promise<Session | null> {
    const session = await repo.findSession(this.deps.db, sessionId)
    if (!session || session.revokedAt || !isLive(session)) return null
    return session
  }

  /** Those of `userIds` with a live session (reconciliation ends sessions a suspension may have missed). */
  usersWithLiveSessions(userIds: string[]): Promise<string[]> {
    return repo.usersWithLiveSessions(this.deps.db, userIds)
  }

  listLive(userId: string): Promise<Session[]> {
    return repo.liveSessionsOf(this.deps.db, userId)
  }

  view(session: Session, currentSessionId: string | null): SessionView {
    return {
      id: session.id,
      deviceId: session.deviceId,
      createdAt: session.createdAt.toISOString(),
      lastUsedAt: session.lastUsedAt.toISOString(),
      expiresAt: sessionExpiry(session).toISOString(),
      ip: session.ip,
      current: session.id === currentSessionId,
    }
  }

  /** Starts hearing revocations from every instance, and loads those whose tokens may still be alive. */
  async startRevocationFeed(): Promise<void> {
    this.stopListening = await this.deps.database.listen(REVOCATION_CHANNEL, (payload) => {
      for (const id of payload.split(',')) if (UUID.test(id)) this.deps.revokedSessions.add(id)
    })
    await this.syncRevocations()
    this.resyncTimer = setInterval(() => {
      this.syncRevocations().catch((error: unknown) => this.deps.log.warn({ err: error }, 'revoked sessions not re-read'))
    }, REVOCATION_RESYNC_MS)
    this.resyncTimer.unref()
  }

  async stopRevocationFeed(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer)
    this.resyncTimer = null
    const stop = this.stopListening
    this.stopListening = null
    await stop?.().catch(() => {})
  }

  /** Re-reads recently revoked sessions from the table; the fallback for missed notifications. */
  async syncRevocations(): Promise<number> {
    const ids = await repo.recentlyRevokedSessionIds(this.deps.db, this.deps.config.tokens.accessTtl + REVOCATION_SLACK_SECONDS)
    for (const id of ids) this.deps.revokedSessions.add(id)
    return ids.length
  }

  private async revoke(scope: repo.SessionScope, reason: RevocationReason): Promise<string[]> {
    const ids = await repo.revokeSessions(this.deps.db, scope, reason)
    await this.announceRevocations(ids, reason)
    return ids
  }

  /**
   * Makes committed revocations take effect: this instance refuses the sessions' access tokens at once, the
   * others when they hear of it (or at their next re-read), and the audit log records it.
   */
  async announceRevocations(ids: string[], reason: RevocationReason): Promise<void> {
    if (ids.length === 0) return
    for (const id of ids) this.deps.revokedSessions.add(id)
    try {
      for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) {
        await this.deps.database.notify(REVOCATION_CHANNEL, ids.slice(i, i + IDS_PER_NOTIFICATION).join(','))
      }
    } catch (error) {
      // Stored: the other instances pick it up at their next re-read.
      logSideFailure(this.deps.log, error, { sessions: ids.length }, 'session revocation not announced')
    }
    if (reason !== 'refresh_token_reused') {
      await this.audit({ type: 'session.revoked', data: { reason, sessions: ids.length } })
    }
  }

  private async audit(event: Parameters<AuditSink>[0]) {
    if (!this.deps.audit) return
    try {
      await this.deps.audit(event)
    } catch (error) {
      logSideFailure(this.deps.log, error, { auditType: event.type }, 'audit event not recorded')
    }
  }
}

function newRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url')
}

function isLive(session: Session): boolean {
  return sessionExpiry(session).getTime() > Date.now()
}

/** When the session ends unless used again. */
export function sessionExpiry(session: Session): Date {
  return session.idleExpiresAt.getTime() < session.expiresAt.getTime() ? session.idleExpiresAt : session.expiresAt
}
