import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import * as schema from './schema/index.js'
import { outageOptions } from './watchdog.js'

export type Schema = typeof schema
/** The one Drizzle type every query function takes: either driver, or a transaction of it. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>
export type Executor = Database | Transaction

/** The rows of `db.execute(sql...)`: postgres.js hands back an array, PGlite an object holding `rows`. */
export const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows)

export interface DatabaseHandle {
  db: Database
  driver: 'postgres' | 'pglite'
  /** Parameterised raw SQL for the few places Drizzle's builder does not fit (the Sngine directory, health). */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
  /** LISTEN on a channel; the returned function stops listening. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>
  notify(channel: string, payload: string): Promise<void>
  /** Runs `fn` while holding a PostgreSQL session advisory lock (one connection holds it throughout). */
  withAdvisoryLock<T>(key: number, fn: () => Promise<T>): Promise<T>
  /**
   * Runs `fn` only if no other connection holds the advisory lock `key`: taken with pg_try_advisory_xact_lock in a
   * transaction that stays open (on a connection of its own) while `fn` runs, so it ends with that transaction or
   * with the connection, whatever happens to the process. `fn` uses the pool as usual, not that transaction.
   */
  withAdvisoryLockIfFree<T>(key: number, fn: () => Promise<T>): Promise<{ locked: true; value: T } | { locked: false }>
  /**
   * Runs `fn` on a connection of its own whose statements may run up to {@link LONG_STATEMENT_TIMEOUT_MS}
   * (migrations: building an index on a large table), not the pool's short statement timeout.
   */
  withLongStatements<T>(fn: (db: Database) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** The statement timeout of `withLongStatements`: schema changes, never requests. */
export const LONG_STATEMENT_TIMEOUT_MS = 30 * 60_000

/** How long `withAdvisoryLock` waits for another instance (e.g. its migrations), and how often it asks. */
const ADVISORY_LOCK_WAIT_MS = 5 * 60_000
const ADVISORY_LOCK_POLL_MS = 200

export interface DatabaseOptions {
  url?: string
  poolMax?: number
  /** Embedded PGlite data directory; `memory://` keeps it in memory (tests). */
  embeddedDir?: string
  /** Start the embedded database from a dump (`PGlite.dumpDataDir`) instead of an empty cluster. */
  embeddedSnapshot?: Blob
  /** Statement timeout, so a stuck query answers with an error rather than a hang (default 5 s). */
  statementTimeoutMs?: number
  /** Opening a connection, TCP and startup together (default 5 s). */
  connectTimeoutMs?: number
}

/**
 * Errors meaning the connection itself is gone, not that a statement failed: postgres.js's and the socket's, and
 * a FATAL from the server (after which it closes the connection). A server's ERROR leaves the connection usable.
 */
const CONNECTION_LOST = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

function connectionLost(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown }
  return severity === 'FATAL' || severity === 'PANIC' || (typeof code === 'string' && CONNECTION_LOST.has(code))
}

/** How long to wait for postgres.js to report a transaction's connection closed after a connection error. */
const CLOSE_NOTICE_MS = 2000

const NEVER = new Promise<never>(() => {})

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  const handle = options.url ? await openPostgres(options.url, options) : await openPglite(options.embeddedDir ?? 'memory://', options.embeddedSnapshot)
  // Closing twice (an app and its owner both tidying up) is harmless.
  let closing: Promise<void> | null = null
  const close = handle.close
  handle.close = () => (closing ??= close())
  return handle
}

type Sql = import('postgres').Sql

/**
 * postgres.js writes to a connection that has already closed when a transaction goes on after its connection
 * dropped (its own ROLLBACK, or the next statement): the write happens in a setImmediate and throws a TypeError
 * nobody can catch, which takes the process down (porsager/postgres#1154, #1208). So once a transaction's
 * connection is gone, its statements are refused here and its callback never returns: postgres.js has already
 * rejected the transaction with the connection error, and there is nothing left to roll back.
 */
function guardTransactions(client: Sql): Sql {
  type Begin = (...args: unknown[]) => Promise<unknown>
  const begin: Begin = (...args) => {
    const fn = args.pop() as (sql: Sql) => unknown
    let lost = false
    let noticeClosed: () => void = () => {}
    const closed = new Promise<void>((resolve) => { noticeClosed = resolve })
    const outcome = (client.begin as Begin)(...args, async (sql: Sql) => {
      try {
        const result = await fn(refuseWhenLost(sql, () => lost))
        if (lost) return await NEVER
        return result
      } catch (error) {
        // A connection error closes the connection at once; a rollback is safe only if it did not.
        if (lost || (connectionLost(error) && await closedWithin(closed, CLOSE_NOTICE_MS))) return await NEVER
        throw error
      }
    })
    // The transaction rejects before its callback has settled only when its connection closed.
    outcome.catch(() => {
      lost = true
      noticeClosed()
    })
    return outcome
  }
  return new Proxy(client, { get: (target, key, receiver) => (key === 'begin' ? begin : Reflect.get(target, key, receiver)) })
}

async function closedWithin(closed: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([closed.then(() => true as const), late])
  } finally {
    clearTimeout(timer)
  }
}

/** A transaction's `sql` that refuses new statements once its connection is known to be gone. */
function refuseWhenLost(sql: Sql, lost: () => boolean): Sql {
  const refused = () => {
    const error = Object.assign(new Error('the transaction\'s database connection was lost'), { code: 'CONNECTION_CLOSED' })
    const promise = Promise.reject(error)
    return Object.assign(promise, { values: () => promise, execute: () => promise })
  }
  return new Proxy(sql, {
    apply: (target, self, args) => (lost() ? refused() : Reflect.apply(target, self, args)),
    get: (target, key, receiver) => {
      const value = Reflect.get(target, key, receiver) as unknown
      if (key !== 'unsafe' || typeof value !== 'function') return value
      return (...args: unknown[]) => (lost() ? refused() : Reflect.apply(value, target, args))
    },
  })
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<DatabaseHandle> {
  const { default: postgres } = await import('postgres')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const outage = outageOptions(url, { connectTimeoutMs: options.connectTimeoutMs ?? 5000, statementTimeoutMs: options.statementTimeoutMs ?? 5000 })
  // Every transaction goes through the guard, Drizzle's and the advisory lock's below alike.
  const client = guardTransactions(postgres(url, {
    max: options.poolMax ?? 10,
    idle_timeout: 60,
    onnotice: () => {},
    ...outage,
    connection: { ...outage.connection, application_name: 'vottery' },
  }))
  const db = drizzle({ client, schema }) as unknown as Database
  return {
    db,
    driver: 'postgres',
    query: async <T>(text: string, params: unknown[] = []) =>
      (await client.unsafe(text, params as never[])) as unknown as T[],
    listen: async (channel, onMessage) => {
      const subscription = await client.listen(channel, onMessage)
      return async () => { await subscription.unlisten() }
    },
    notify: async (channel, payload) => { await client.notify(channel, payload) },
    withAdvisoryLock: async (key, fn) => {
      const reserved = await client.reserve()
      let result: Awaited<ReturnType<typeof fn>>
      try {
        // Polled rather than waited on: a wait longer than the statement timeout would fail (and the socket
        // watchdog would take the silent connection for a dead one) while another instance migrates.
        const deadline = Date.now() + ADVISORY_LOCK_WAIT_MS
        for (;;) {
          const [row] = await reserved<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}::bigint) as locked`
          if (row?.locked) break
          if (Date.now() > deadline) throw new Error(`advisory lock ${key} still held by another connection after ${ADVISORY_LOCK_WAIT_MS / 1000} s`)
          await new Promise((resolve) => setTimeout(resolve, ADVISORY_LOCK_POLL_MS))
        }
        result = await fn()
        await reserved`select pg_advisory_unlock(${key})`
      } catch (error) {
        // After a lost connection, another write to the reserved one, or handing it back to the pool, could be a
        // write to a closed connection, which crashes postgres.js (see guardTransactions). It stays reserved (and
        // the lock with it, if the connection is in fact alive) until the process ends, which a failed start does.
        if (!connectionLost(error)) {
          await reserved`select pg_advisory_unlock(${key})`.catch(() => {})
          reserved.release()
        }
        throw error
      }
      reserved.release()
      return result
    },
    withAdvisoryLockIfFree: async <T>(key: number, fn: () => Promise<T>) => {
      const outcome = await client.begin(async (tx) => {
        const [row] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${key}::bigint) as locked`
        if (!row?.locked) return { locked: false as const }
        return { locked: true as const, value: await fn() }
      })
      return outcome as { locked: true; value: T } | { locked: false }
    },
    withLongStatements: async (fn) => {
      const long = await openPostgres(url, { ...options, poolMax: 1, statementTimeoutMs: LONG_STATEMENT_TIMEOUT_MS })
      try {
        return await fn(long.db)
      } finally {
        await long.close()
      }
    },
    close: () => client.end({ timeout: 5 }),
  }
}

async function openPglite(dataDir: string, snapshot?: Blob): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  if (!dataDir.startsWith('memory://')) await mkdir(resolve(dataDir), { recursive: true })
  const client = await PGlite.create({
    ...(dataDir.startsWith('memory://') ? {} : { dataDir: resolve(dataDir) }),
    ...(snapshot ? { loadDataDir: snapshot } : {}),
  })
  const db = drizzle({ client, schema }) as unknown as Database
  return {
    db,
    driver: 'pglite',
    query: async <T>(text: string, params: unknown[] = []) => (await client.query<T>(text, params)).rows,
    listen: async (channel, onMessage) => {
      const unlisten = await client.listen(channel, onMessage)
      return unlisten
    },
    notify: async (channel, payload) => { await client.query('select pg_notify($1, $2)', [channel, payload]) },
    // One embedded connection: nothing else can run a migration beside it.
    withAdvisoryLock: (_key, fn) => fn(),
    // One process owns an embedded database: there is no other instance to exclude.
    withAdvisoryLockIfFree: async (_key, fn) => ({ locked: true, value: await fn() }),
    // No statement timeout is set on the embedded database.
    withLongStatements: (fn) => fn(db),
    close: () => client.close(),
  }
}

export function embeddedDir(dataDir: string): string {
  return join(dataDir, 'pglite')
}
