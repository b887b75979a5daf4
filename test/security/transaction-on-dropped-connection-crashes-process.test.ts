import t from 'tap'
import { sql } from 'drizzle-orm'
import { setTimeout as sleep } from 'node:timers/promises'
import { usingPostgres } from '../helper.js'
import { openProxiedPostgres } from '../fixtures/proxied-postgres.js'
import { settlesWithin } from '../fixtures/settles.js'

// Finding: when a transaction's connection dropped, postgres.js went on writing to it (its own ROLLBACK, or the
// transaction's next statement) from a setImmediate after the socket was gone, and threw a TypeError nobody could
// catch (porsager/postgres#1154, #1208): the process crashed in the middle of a database outage. The transaction
// now fails with the connection error and nothing more is written to that connection. (tap fails a test on any
// uncaught exception, so a crash shows here as a failure.)

const skip = usingPostgres ? false : 'needs PostgreSQL (set DATABASE_URL): the outage is a TCP proxy in front of a real server'
const BOUND_MS = 8000

for (const mode of ['reset', 'blackhole'] as const) {
  t.test(`a transaction whose connection drops (${mode}) rejects as unavailable, and the process lives on`, { skip }, async (t) => {
    const { proxy, handle } = await openProxiedPostgres(t, { connectTimeoutMs: 1000, statementTimeoutMs: 1000 })
    const cases = {
      'between two statements': async () => {
        await handle.db.transaction(async (tx) => {
          await tx.execute(sql`select 1`)
          proxy.cut(mode)
          await sleep(100)
          await tx.execute(sql`select 2`)
        })
      },
      'during a statement': async () => {
        await handle.db.transaction(async (tx) => {
          await tx.execute(sql`select 1`)
          setTimeout(() => proxy.cut(mode), 100)
          await tx.execute(sql`select pg_sleep(0.5)`)
        })
      },
      'after its last statement, before the commit': async () => {
        await handle.db.transaction(async (tx) => {
          await tx.execute(sql`select 1`)
          proxy.cut(mode)
          await sleep(100)
        })
      },
      // The lock an instance holds while it reconciles with Sngine: a transaction of its own, open throughout.
      'while holding a transaction-scoped advisory lock': async () => {
        await handle.withAdvisoryLockIfFree(7, async () => {
          proxy.cut(mode)
          await sleep(100)
        })
      },
    }
    for (const [when, run] of Object.entries(cases)) {
      const outcome = await settlesWithin(run(), BOUND_MS)
      t.ok(outcome.settled && outcome.error, `${when}: the transaction failed within the bound`)
      const code = outcome.settled ? (outcome.error as { code?: string } | undefined)?.code : undefined
      t.match(code, /^(CONNECTION_CLOSED|ECONNRESET|ETIMEDOUT)$/, `${when}: with a connection error (${code})`)
      await sleep(200)
      proxy.restore()
      const next = await settlesWithin(handle.db.transaction(async (tx) => tx.execute(sql`select 3 as three`)), BOUND_MS)
      t.ok(next.settled && !next.error, `${when}: the next transaction works`)
    }
  })
}
