import t from 'tap'
import { usingPostgres } from '../helper.js'
import { openProxiedPostgres } from '../fixtures/proxied-postgres.js'
import { settlesWithin } from '../fixtures/settles.js'

// Finding: postgres.js fails the queries of a connection when its socket reports an error, but frees the
// connection only when the socket closes, a turn of the event loop later. A query sent in between (a request
// reacting at once to the failure: deleting a pending code, recording an audit event) was written to the dead
// socket and never answered nor failed: the request hung for ever. The socket now reports such an error as a
// plain close, on which postgres.js fails and frees in one step (src/db/watchdog.ts).

const skip = usingPostgres ? false : 'needs PostgreSQL (set DATABASE_URL): the outage is a TCP proxy in front of a real server'
const BOUND_MS = 8000

for (const mode of ['reset', 'blackhole'] as const) {
  t.test(`a query sent as soon as the previous one failed (${mode}) fails too, or runs; it never hangs`, { skip }, async (t) => {
    // One connection, busy with the first query: the second one can only go to it.
    const { proxy, handle } = await openProxiedPostgres(t, { connectTimeoutMs: 1000, statementTimeoutMs: 1000, poolMax: 1 })
    await handle.query('select 1')
    let second: Promise<unknown> | undefined
    const first = handle.query('select pg_sleep(0.5)').catch(() => { second = handle.query('select 42 as answer') })
    setTimeout(() => proxy.cut(mode), 100)
    await first
    t.ok(second, 'the first query failed and the second was sent')
    const outcome = await settlesWithin(second!, BOUND_MS)
    t.ok(outcome.settled, 'the second query settled within the bound')
    proxy.restore()
    const after = await settlesWithin(handle.query<{ three: number }>('select 3 as three'), BOUND_MS)
    t.same(after.settled && after.value, [{ three: 3 }], 'and the pool answers correctly once the server is back')
  })
}
