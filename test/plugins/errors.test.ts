import t from 'tap'
import { Type } from 'typebox'
import { build } from '../helper.js'

const register = (app: import('fastify').FastifyInstance) => {
  app.post('/api/test/echo', {
    schema: {
      body: Type.Object({ name: Type.String({ maxLength: 20 }), count: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })) }),
    },
  }, async (request) => ({ body: request.body, query: request.query }))
  app.get('/api/test/boom', async () => { throw Object.assign(new Error('select * from secrets where x = 1'), { stack: 'at secret.ts:1' }) })
  app.get('/api/test/db-down', async () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }) })
}

t.test('errors carry the contract body and never a stack or SQL', async (t) => {
  const { app, logs } = await build(t, { register })
  const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/api/test/echo', payload, headers })

  const ok = await post(JSON.stringify({ name: 'ada', count: 2 }))
  t.equal(ok.statusCode, 200)

  const unknown = await post(JSON.stringify({ name: 'ada', role: 'admin' }))
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { statusCode: 400, code: 'validation_failed', error: 'Bad Request', details: { field: 'body.role' } })

  const wrongType = await post(JSON.stringify({ name: 'ada', count: '2' }))
  t.equal(wrongType.json().code, 'validation_failed', 'a string is not coerced into a number in a body')
  t.match(wrongType.json().details, { field: 'body.count' })

  const missing = await post(JSON.stringify({}))
  t.match(missing.json(), { code: 'validation_failed', details: { field: 'body.name' } })

  const nul = await post(JSON.stringify({ name: 'a\u0000b' }))
  t.equal(nul.statusCode, 400)
  t.match(nul.json(), { code: 'validation_failed', details: { field: 'body.name' } })

  const malformed = await post('{"name": ')
  t.match(malformed.json(), { statusCode: 400, code: 'invalid_json' })

  const proto = await post('{"name":"a","__proto__":{"admin":true}}')
  t.equal(proto.statusCode, 400)

  const tooLarge = await post(JSON.stringify({ name: 'x'.repeat(70_000) }))
  t.match(tooLarge.json(), { statusCode: 413, code: 'payload_too_large' })

  const wrongMedia = await post('name=ada', { 'content-type': 'application/x-www-form-urlencoded' })
  t.equal(wrongMedia.statusCode, 415)
  t.equal(wrongMedia.json().code, 'unsupported_media_type')

  const query = await app.inject({ method: 'POST', url: '/api/test/echo?limit=5', payload: { name: 'a' } })
  t.same(query.json().query, { limit: 5 }, 'query strings are coerced to their declared types')
  const badQuery = await app.inject({ method: 'POST', url: '/api/test/echo?limit=500', payload: { name: 'a' } })
  t.match(badQuery.json(), { code: 'validation_failed', details: { field: 'querystring.limit' } })

  const notFound = await app.inject({ method: 'GET', url: '/api/nowhere' })
  t.same(notFound.json(), { statusCode: 404, code: 'not_found', error: 'Not Found', message: 'Not found' })

  const boom = await app.inject({ method: 'GET', url: '/api/test/boom' })
  t.equal(boom.statusCode, 500)
  t.equal(boom.json().code, 'internal_error')
  t.notMatch(boom.body, /select|secret|stack/i)
  t.ok(logs.some((line) => line.includes('request failed')), 'the 500 is logged for operators')

  const down = await app.inject({ method: 'GET', url: '/api/test/db-down' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'service_unavailable')
  t.ok(Number(down.headers['retry-after']) > 0)
  t.notMatch(down.body, /ECONNREFUSED|5432/)
})

t.test('request ids are echoed when well-formed, replaced otherwise', async (t) => {
  const { app } = await build(t)
  const echoed = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'trace-1.a_B' } })
  t.equal(echoed.headers['x-request-id'], 'trace-1.a_B')
  const replaced = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id<script>' } })
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const tooLong = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'a'.repeat(129) } })
  t.not(tooLong.headers['x-request-id'], 'a'.repeat(129))
  const fresh = await app.inject({ method: 'GET', url: '/nowhere' })
  t.match(fresh.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'error replies carry one too')
})

t.test('security headers and CORS for the allowed origins only', async (t) => {
  const { app } = await build(t)
  const reply = await app.inject({ method: 'GET', url: '/health/live', headers: { origin: 'http://localhost:3000' } })
  t.equal(reply.headers['access-control-allow-origin'], 'http://localhost:3000')
  t.equal(reply.headers['access-control-allow-credentials'], 'true')
  t.equal(reply.headers['x-content-type-options'], 'nosniff')
  t.ok(reply.headers['content-security-policy'])
  const foreign = await app.inject({ method: 'GET', url: '/health/live', headers: { origin: 'https://evil.example' } })
  t.equal(foreign.headers['access-control-allow-origin'], undefined)
})

t.test('logs never carry authorization, cookies or sensitive fields', async (t) => {
  const { app, logs } = await build(t, {
    register: (app) => {
      app.get('/api/test/log', async (request) => {
        request.log.info({ email: 'leak@example.com', nested: { phone: '+14155552671', token: 'tok-secret' } }, 'probe')
        return { ok: true }
      })
    },
  })
  await app.inject({ method: 'GET', url: '/api/test/log', headers: { authorization: 'Bearer abc.def.ghi', cookie: 'vt_refresh=zzz' } })
  const all = logs.join('\n')
  t.match(all, /probe/)
  t.notMatch(all, /leak@example\.com|4155552671|tok-secret|abc\.def\.ghi|vt_refresh=zzz/)
})
