import t from 'tap'
import { sql } from 'drizzle-orm'
import { LONG_STATEMENT_TIMEOUT_MS, openDatabase, rowsOf } from '../../src/db/client.js'
import { runMigrations, migrationsApplied, expectedMigrationCount } from '../../src/db/migrate.js'
import { createPostgresDatabase } from '../helper.js'

/** The key migrations take (src/db/migrate.ts). */
const MIGRATION_LOCK_KEY = 7_265_310

// Always on PostgreSQL: an embedded database has one process, and no other instance to wait for.
t.test('an instance starting while another migrates waits past the statement timeout, then migrates', async (t) => {
  const url = await createPostgresDatabase(t)
  const { default: postgres } = await import('postgres')
  const other = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end())
  const reserved = await other.reserve()
  await reserved`select pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`

  // A short statement timeout: a blocking wait on the lock would be cancelled (or its silent connection dropped).
  const handle = await openDatabase({ url, poolMax: 3, statementTimeoutMs: 300 })
  t.teardown(() => handle.close())
  let done = false
  const migrating = runMigrations(handle).then(() => { done = true })
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.equal(done, false, 'still waiting while the other instance holds the lock')
  await reserved`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`
  reserved.release()
  await migrating
  t.equal(await migrationsApplied(handle, await expectedMigrationCount()), true, 'then it migrates')
})

t.test('migrations run without the requests\' statement timeout', async (t) => {
  const url = await createPostgresDatabase(t)
  const handle = await openDatabase({ url, poolMax: 2, statementTimeoutMs: 300 })
  t.teardown(() => handle.close())
  // What a request may run is cut off at the statement timeout…
  await t.rejects(handle.query('select pg_sleep(1)'), { code: '57014' }, 'a request\'s second-long statement is cancelled')
  // …while a schema change (an index built on a large table) may take as long as it needs.
  const rows = await handle.withLongStatements(async (db) => {
    const result = await db.execute(sql`select pg_sleep(1), current_setting('statement_timeout') as timeout`)
    return rowsOf<{ timeout: string }>(result)
  })
  t.equal(rows[0]?.timeout, `${LONG_STATEMENT_TIMEOUT_MS / 60_000}min`, 'on a connection with the long timeout')
  await runMigrations(handle)
  t.equal(await migrationsApplied(handle, await expectedMigrationCount()), true, 'and migrations go through it')
  t.same(await handle.query('select 1 as one'), [{ one: 1 }], 'the pool is untouched afterwards')
})
