import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, openTestDatabase, REDIS_URL } from '../helper.js'

// Each test speaks from its own address so parallel runs sharing Redis do not count each other.
const someIp = () => `198.51.100.${1 + randomBytes(1)[0]! % 250}`

t.test('per-IP limit answers 429 rate_limited with Retry-After', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_PER_MINUTE: '3' } })
  const ip = someIp()
  const hit = () => app.inject({ method: 'GET', url: '/api/nowhere', remoteAddress: ip })
  for (let i = 0; i < 3; i++) t.equal((await hit()).statusCode, 404)
  const limited = await hit()
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests' })
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds')
  const other = await app.inject({ method: 'GET', url: '/api/nowhere', remoteAddress: '203.0.113.9' })
  t.equal(other.statusCode, 404, 'another address has its own budget')
})

t.test('with REDIS_URL two instances share one budget', async (t) => {
  const database = await openTestDatabase(t)
  const env = { RATE_LIMIT_PER_MINUTE: '4', REDIS_URL }
  const one = await build(t, { env, database })
  const two = await build(t, { env, database })
  t.ok(one.app.redis, 'a Redis client is in use')
  const ip = `192.0.2.${1 + randomBytes(1)[0]! % 250}`
  const codes: number[] = []
  for (let i = 0; i < 6; i++) {
    const app = i % 2 === 0 ? one.app : two.app
    codes.push((await app.inject({ method: 'GET', url: '/api/nowhere', remoteAddress: ip })).statusCode)
  }
  t.same(codes, [404, 404, 404, 404, 429, 429], 'the fifth request, on either instance, is limited')
})
