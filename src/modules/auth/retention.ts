import type { FastifyBaseLogger } from 'fastify'
import type { Executor } from '../../db/client.js'
import { logSideFailure } from '../../errors.js'
import { deleteExpiredFlows } from './flow-repository.js'
import { deleteExpiredChallenges } from './passkey-repository.js'
import { deleteEndedSessions, deleteRefreshTokensOfEndedSessions } from './session-repository.js'

/** A session that ended (revoked, expired, idle too long) is kept this long, then deleted with its refresh tokens. */
export const SESSION_RETENTION_SECONDS = 30 * 86_400

/**
 * An expired onboarding flow is kept this long, then deleted with its codes and challenges. Nothing uses a
 * flow past its expiry; the grace also must not be shorter than the hour the send caps count codes over
 * (flow-repository.ts `countRecentSends`), or deleting a flow would hand its sends back.
 */
export const FLOW_GRACE_SECONDS = 3600

/** Rows deleted per statement: each statement stays short, well inside the statement timeout. */
export const SWEEP_BATCH_SIZE = 1000

/** How often every instance sweeps (the deletes are idempotent, so instances may overlap). */
export const SWEEP_INTERVAL_MS = 10 * 60_000

/**
 * The first sweep after start: a few seconds in, so that it does not compete with start-up, and an instance
 * restarted more often than every interval still sweeps. It only touches rows long dead, so an app under
 * test that lives that long is none the wiser.
 */
export const FIRST_SWEEP_DELAY_MS = 5_000

export interface SweepCounts {
  challenges: number
  flows: number
  refreshTokens: number
  sessions: number
}

export interface SweepOptions {
  /** Rows per delete statement (default {@link SWEEP_BATCH_SIZE}). */
  batchSize?: number
  /** Asked between batches: true stops the sweep where it is (at shutdown). */
  stopped?: () => boolean
}

/**
 * Deletes the auth data nobody needs any more, each kind in batches of `batchSize` until a batch comes back
 * short: expired WebAuthn challenges; flows expired more than {@link FLOW_GRACE_SECONDS} ago (their codes and
 * challenges by cascade); refresh tokens, then the sessions themselves, of sessions that ended more than
 * {@link SESSION_RETENTION_SECONDS} ago. Live sessions and every refresh token they ever had (reuse
 * detection needs the rotated ones) stay. Returns what was deleted.
 */
export async function sweepExpiredAuthData(db: Executor, options: SweepOptions = {}): Promise<SweepCounts> {
  const size = options.batchSize ?? SWEEP_BATCH_SIZE
  const stopped = options.stopped ?? (() => false)
  const inBatches = async (deleteBatch: (limit: number) => Promise<number>): Promise<number> => {
    let total = 0
    while (!stopped()) {
      const deleted = await deleteBatch(size)
      total += deleted
      if (deleted < size) break
    }
    return total
  }
  const challenges = await inBatches((limit) => deleteExpiredChallenges(db, limit))
  const flows = await inBatches((limit) => deleteExpiredFlows(db, FLOW_GRACE_SECONDS, limit))
  const refreshTokens = await inBatches((limit) => deleteRefreshTokensOfEndedSessions(db, SESSION_RETENTION_SECONDS, limit))
  const sessions = await inBatches((limit) => deleteEndedSessions(db, SESSION_RETENTION_SECONDS, limit))
  return { challenges, flows, refreshTokens, sessions }
}

export interface RetentionSweeperDeps {
  db: Executor
  log: FastifyBaseLogger
  intervalMs?: number
  firstDelayMs?: number
  batchSize?: number
}

export interface RetentionSweeper {
  /** Sweeps now, unless a sweep is already running (then waits for that one); never throws. */
  sweep(): Promise<void>
  /** No more sweeps; the one running stops after its current batch, and this waits for it. */
  stop(): Promise<void>
}

/**
 * Sweeps once shortly after start, then every `intervalMs`. The timers never keep the process alive; a
 * failure is logged (a warning for an outage) and the next interval tries again.
 */
export function startRetentionSweeps(deps: RetentionSweeperDeps): RetentionSweeper {
  let stopped = false
  let current: Promise<void> | null = null
  const run = async () => {
    try {
      const counts = await sweepExpiredAuthData(deps.db, { batchSize: deps.batchSize, stopped: () => stopped })
      const deleted = counts.challenges + counts.flows + counts.refreshTokens + counts.sessions
      deps.log[deleted > 0 ? 'info' : 'debug']({ deleted: counts }, 'expired auth data swept')
    } catch (error) {
      logSideFailure(deps.log, error, {}, 'expired data not swept')
    }
  }
  const sweep = (): Promise<void> => {
    if (stopped) return Promise.resolve()
    current ??= run().finally(() => { current = null })
    return current
  }
  const first = setTimeout(() => void sweep(), deps.firstDelayMs ?? FIRST_SWEEP_DELAY_MS)
  first.unref()
  const every = setInterval(() => void sweep(), deps.intervalMs ?? SWEEP_INTERVAL_MS)
  every.unref()
  return {
    sweep,
    async stop() {
      stopped = true
      clearTimeout(first)
      clearInterval(every)
      await current
    },
  }
}
