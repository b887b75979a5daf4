import t from 'tap'
import { build, openTestDatabase } from '../helper.js'

t.test('live and ready', async (t) => {
  const { app } = await build(t)
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
})

t.test('ready is 503 when migrations are missing', async (t) => {
  const database = await openTestDatabase(t)
  const { app } = await build(t, { database })
  await database.query('delete from vottery.__drizzle_migrations')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable' })
  t.ok(ready.headers['retry-after'])
})

t.test('ready is 503 when the database is gone; live stays 200', async (t) => {
  const database = await openTestDatabase(t)
  const { app } = await build(t, { database })
  await database.close()
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200)
})
