import t from 'tap'
import { build } from '../helper.js'
import { errorBodyProblems, requestIdProblems } from '../fixtures/reply-checks.js'

// Found by the fuzzer: a path parameter that is not valid percent-encoding, or longer than the router
// allows, was answered by Fastify itself before any hook ran: `{"code":"FST_ERR_BAD_URL"}` (not a
// contract code), no x-request-id.
t.test('malformed and over-long path parameters get the contract error body and a request id', async (t) => {
  const { app, logs } = await build(t)
  for (const url of ['/api/security/keys/%zz/rotate', '/api/security/keys/%E0%A4%A/rotate', `/api/security/keys/${'a'.repeat(300)}/rotate`]) {
    const reply = await app.inject({ method: 'POST', url, headers: { 'x-request-id': 'malformed-url-1' } })
    t.ok(reply.statusCode >= 400 && reply.statusCode < 500, `${url.slice(0, 40)}: ${reply.statusCode}`)
    t.same(errorBodyProblems(reply), [], 'contract error body')
    t.same(requestIdProblems('malformed-url-1', reply), [], 'the request id is echoed')
  }
  t.ok(logs.some((line) => line.includes('malformed-url-1') && line.includes('request refused')), 'the refusal is logged with its request id')
})
