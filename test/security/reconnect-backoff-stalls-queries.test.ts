import t from 'tap'
import { usingPostgres } from '../helper.js'
import { openProxiedPostgres } from '../fixtures/proxied-postgres.js'
import { settlesWithin } from '../fixtures/settles.js'

// Finding: postgres.js waits before reconnecting, and the wait grows with every failure (3^n / 100 s, up to
// 20 s), while a query waits with it. During an outage, requests took 10 to 20 s to fail; after it, the app
// took as long to notice the database was back. The wait is now at most one second.

const skip = usingPostgres ? false : 'needs PostgreSQL (set DATABASE_URL): the outage is a TCP proxy in front of a real server'
/** A hang detector, well above the one-second reconnect cap and the connect timeout. */
const BOUND_MS = 5000

t.test('queries fail promptly however many connects failed before, and work as soon as the server is back', { skip }, async (t) => {
  const { proxy, handle } = await openProxiedPostgres(t, { connectTimeoutMs: 1000, statementTimeoutMs: 1000 })
  t.same(await handle.query('select 1 as one'), [{ one: 1 }])
  proxy.cut('reset')
  const stalled: number[] = []
  for (let i = 0; i < 15; i++) {
    const outcome = await settlesWithin(handle.query('select 1'), BOUND_MS)
    if (!outcome.settled || !outcome.error) stalled.push(i)
  }
  t.same(stalled, [], 'fifteen queries in a row each failed within the bound')
  proxy.restore()
  const back = await settlesWithin(handle.query<{ one: number }>('select 1 as one'), BOUND_MS)
  t.ok(back.settled && !back.error, 'the first query after the server is back succeeds within the bound')
})
