import t from 'tap'
import { sql } from 'drizzle-orm'
import { setTimeout as sleep } from 'node:timers/promises'
import { toApiError } from '../../src/plugins/errors.js'
import { openPostgresDirectory } from '../../src/adapters/sngine/postgres.js'
import { addSnginePerson, createSngineTable, usingPostgres } from '../helper.js'
import { openProxiedPostgres } from '../fixtures/proxied-postgres.js'
import { settlesWithin } from '../fixtures/settles.js'

// Finding: when the network swallowed packets (a partition: nothing resets the connection), a query on an open
// connection waited for ever, and so did every request behind it: statement_timeout is enforced by the server,
// which never saw the query, and postgres.js has no timeout of its own. A connection that owes a reply and stays
// silent past the statement timeout (plus a margin) is now dropped (src/db/watchdog.ts).

const skip = usingPostgres ? false : 'needs PostgreSQL (set DATABASE_URL): the outage is a TCP proxy in front of a real server'
const STATEMENT_MS = 1000
/** A hang detector: the watchdog fires 2 s after the statement timeout. */
const BOUND_MS = 8000

t.test('a query on a blackholed connection fails as unavailable instead of hanging; then the pool recovers', { skip }, async (t) => {
  const { proxy, handle } = await openProxiedPostgres(t, { connectTimeoutMs: 1000, statementTimeoutMs: STATEMENT_MS, poolMax: 2 })
  await Promise.all([handle.query('select 1'), handle.query('select 1')])
  proxy.cut('blackhole')
  const outcomes = await Promise.all([
    settlesWithin(handle.query('select 1'), BOUND_MS),
    settlesWithin(handle.db.transaction(async (tx) => tx.execute(sql`select 1`)), BOUND_MS),
    settlesWithin(handle.query('select 2'), BOUND_MS),
  ])
  t.same(outcomes.map((o) => o.settled), [true, true, true], 'every query settled within the bound')
  for (const outcome of outcomes) {
    const error = outcome.settled ? outcome.error : undefined
    t.ok(error, 'as a failure')
    t.equal(error && toApiError(error as Error)?.apiCode, 'service_unavailable', 'that the app answers as 503 service_unavailable')
  }
  proxy.restore()
  const back = await settlesWithin(handle.query<{ one: number }>('select 1 as one'), BOUND_MS)
  t.ok(back.settled && !back.error, 'the pool works again once packets pass')
})

t.test('an idle connection owes nothing and is left alone (a LISTEN hears notifications long after)', { skip }, async (t) => {
  const { handle } = await openProxiedPostgres(t, { statementTimeoutMs: 200 })
  const heard: string[] = []
  const stop = await handle.listen('vottery_watchdog_test', (payload) => heard.push(payload))
  t.teardown(stop)
  // Longer than the watchdog's 2.2 s, with no traffic on the listening connection.
  await sleep(3000)
  await handle.notify('vottery_watchdog_test', 'still here')
  for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(50)
  t.same(heard, ['still here'])
})

t.test('Sngine on a server of its own (SNGINE_DATABASE_URL) is watched the same way', { skip }, async (t) => {
  const { proxy, handle, url } = await openProxiedPostgres(t)
  await createSngineTable(handle)
  await addSnginePerson(handle, { email: 'ada@example.com' })
  const directory = await openPostgresDirectory(proxy.via(url), 'public.users')
  t.teardown(() => directory.close())
  t.match(await directory.findByEmail('ada@example.com'), { email: 'ada@example.com' })
  proxy.cut('blackhole')
  // Its statement timeout is 5 s: the watchdog fires at 7 s.
  const outcome = await settlesWithin(directory.findByEmail('ada@example.com'), 12_000)
  t.ok(outcome.settled && outcome.error, 'the lookup failed instead of hanging')
  t.equal(outcome.settled && toApiError(outcome.error as Error)?.apiCode, 'service_unavailable')
  proxy.restore()
  t.match(await directory.findByEmail('ada@example.com'), { email: 'ada@example.com' }, 'and works once packets pass')
})
