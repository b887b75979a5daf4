import type { FastifyBaseLogger } from 'fastify'
import type { Database, DatabaseHandle, Executor } from '../../db/client.js'
import type { SngineAccount, SngineDirectory } from '../../adapters/sngine/index.js'
import type { AuditEventInput } from './audit.js'
import * as repo from './repository.js'
import { logSideFailure } from '../../errors.js'
import { USER_STATUS } from './service.js'

/** Advisory lock key of a reconciliation run (migrations hold 7_265_310, audit appends 7_265_311). */
export const SNGINE_SYNC_LOCK_KEY = 7_265_312
/** Users read, and Sngine accounts asked for, at a time. */
export const SNGINE_SYNC_BATCH = 500

/**
 * A batch at least this large in which Sngine knows none of the accounts is taken for a directory that is
 * wrong (an empty or restored table, the wrong database), not for that many people leaving at once: the run
 * fails and suspends nobody.
 */
export const SNGINE_SYNC_EMPTY_GUARD = 10

/** Why a user is suspended: their Sngine account is banned, no longer activated, or no longer there. */
export type SuspensionReason = 'banned' | 'not_activated' | 'gone'

export interface SngineSyncSummary {
  /** Vottery users compared with their Sngine account. */
  checked: number
  suspended: number
  reinstated: number
  /** Sessions ended, by suspensions of this run and by the sweep of already suspended users. */
  sessionsRevoked: number
}

/** A run that happened, or one skipped because another instance holds the lock. */
export type SngineSyncResult = ({ ran: true } & SngineSyncSummary) | { ran: false; reason: 'locked' }

/** What the sync needs of the auth module's sessions (`fastify.sessions`). */
export interface SessionEnder {
  revokeUserSessions(userId: string, reason: string): Promise<string[]>
  usersWithLiveSessions(userIds: string[]): Promise<string[]>
}

export interface SngineSyncDeps {
  db: Database
  database: Pick<DatabaseHandle, 'withAdvisoryLockIfFree'>
  sngine: Pick<SngineDirectory, 'findManyByIds'>
  sessions: SessionEnder
  audit: (event: AuditEventInput, executor?: Executor) => Promise<unknown>
  log: FastifyBaseLogger
  /** Seconds between runs; 0 runs only when asked (the CLI). */
  intervalSeconds: number
}

/** Null when the account is in good standing. */
export function suspensionReason(account: SngineAccount | undefined): SuspensionReason | null {
  if (!account) return 'gone'
  if (account.banned) return 'banned'
  if (!account.activated) return 'not_activated'
  return null
}

/**
 * Reconciliation with Sngine, the source of truth for who may enter: every Vottery user's Sngine account is read
 * again (in batches), and a user whose account is banned, no longer activated or gone is suspended — status
 * `suspended`, every session ended, `user.suspended` audited with the reason. A suspended user whose account is in
 * good standing again is reinstated (`user.reinstated`) and signs in again with their passkey.
 *
 * Runs every `intervalSeconds` (`SNGINE_SYNC_INTERVAL`) and from `npm run cli -- sync-sngine`. Of several instances
 * only one runs at a time (a PostgreSQL advisory lock; the others skip that turn). A failed run is logged and the
 * next one starts over; nothing is decided on an account that could not be read.
 */
export class SngineSync {
  private timer: NodeJS.Timeout | null = null
  private current: Promise<SngineSyncResult> | null = null
  private stopped = false

  constructor(private readonly deps: SngineSyncDeps) {}

  /** One run now; a call while this instance is already running shares that run. */
  run(options: { actor?: string } = {}): Promise<SngineSyncResult> {
    this.current ??= this.runLocked(options.actor ?? 'system').finally(() => { this.current = null })
    return this.current
  }

  /** Starts the periodic runs (not when the interval is 0). The timer never keeps the process alive. */
  start(): void {
    if (this.deps.intervalSeconds <= 0 || this.timer || this.stopped) return
    this.schedule()
  }

  /** Stops the periodic runs and waits for one in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.current?.catch(() => {})
  }

  get scheduled(): boolean {
    return this.timer !== null
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null
      void this.tick()
    }, this.deps.intervalSeconds * 1000)
    this.timer.unref()
  }

  private async tick(): Promise<void> {
    try {
      await this.run()
    } catch (error) {
      logSideFailure(this.deps.log, error, {}, 'Sngine reconciliation failed; it runs again at the next interval')
    }
    if (!this.stopped) this.schedule()
  }

  private async runLocked(actor: string): Promise<SngineSyncResult> {
    const outcome = await this.deps.database.withAdvisoryLockIfFree(SNGINE_SYNC_LOCK_KEY, () => this.reconcile(actor))
    if (!outcome.locked) {
      this.deps.log.info('Sngine reconciliation skipped: another instance is running it')
      return { ran: false, reason: 'locked' }
    }
    const summary = outcome.value
    const changed = summary.suspended + summary.reinstated + summary.sessionsRevoked > 0
    this.deps.log[changed ? 'info' : 'debug']({ ...summary, actor }, 'Sngine reconciliation done')
    return { ran: true, ...summary }
  }

  private async reconcile(actor: string): Promise<SngineSyncSummary> {
    const summary: SngineSyncSummary = { checked: 0, suspended: 0, reinstated: 0, sessionsRevoked: 0 }
    let after: string | null = null
    for (;;) {
      const batch = await repo.standingsAfter(this.deps.db, after, SNGINE_SYNC_BATCH)
      if (batch.length === 0) break
      after = batch[batch.length - 1]!.id
      const accounts = new Map((await this.deps.sngine.findManyByIds(batch.map((user) => user.sngineUserId))).map((a) => [a.id, a]))
      if (accounts.size === 0 && batch.length >= SNGINE_SYNC_EMPTY_GUARD) {
        throw new Error(`the Sngine directory knows none of ${batch.length} accounts asked for; nobody suspended (is SNGINE_USERS_TABLE right?)`)
      }
      const suspended: string[] = []
      for (const user of batch) {
        summary.checked++
        const reason = suspensionReason(accounts.get(user.sngineUserId))
        if (reason && user.status === USER_STATUS.active) {
          const ended = await this.suspend(user, reason, actor)
          if (ended) {
            summary.suspended++
            summary.sessionsRevoked += ended.length
          }
        } else if (!reason && user.status === USER_STATUS.suspended) {
          if (await this.reinstate(user, actor)) summary.reinstated++
        } else if (reason) {
          suspended.push(user.id)
        }
      }
      summary.sessionsRevoked += await this.sweep(suspended)
    }
    return summary
  }

  /** Status first, so that no sign-in or refresh gets through from here on; then the sessions already open. */
  private async suspend(user: repo.UserStanding, reason: SuspensionReason, actor: string): Promise<string[] | null> {
    const changed = await this.deps.db.transaction(async (tx) => {
      if (!(await repo.changeStatus(tx, user.id, USER_STATUS.active, USER_STATUS.suspended))) return false
      await this.deps.audit({ type: 'user.suspended', userId: user.id, actor, data: { reason, sngineUserId: user.sngineUserId } }, tx)
      return true
    })
    if (!changed) return null
    return this.deps.sessions.revokeUserSessions(user.id, 'user_suspended')
  }

  private async reinstate(user: repo.UserStanding, actor: string): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      if (!(await repo.changeStatus(tx, user.id, USER_STATUS.suspended, USER_STATUS.active))) return false
      await this.deps.audit({ type: 'user.reinstated', userId: user.id, actor, data: { sngineUserId: user.sngineUserId } }, tx)
      return true
    })
  }

  /**
   * Users suspended earlier who still have a live session (a run that failed between the status and the
   * sessions): their sessions end now. A sign-in racing a suspension needs no sweep: it takes the user row's
   * lock (recordLogin), so the suspension either refuses it or comes after it and ends its session too.
   */
  private async sweep(suspendedIds: string[]): Promise<number> {
    let ended = 0
    for (const userId of await this.deps.sessions.usersWithLiveSessions(suspendedIds)) {
      ended += (await this.deps.sessions.revokeUserSessions(userId, 'user_suspended')).length
    }
    return ended
  }
}
