import t from 'tap'
import { build } from '../helper.js'

// Finding: every request was logged with its URL as sent, query string included. `GET /api/auth/status?flowId=…`
// put the flow id (which, with the device cookie, carries the onboarding) in the log, and whatever a client typed
// into a path or query (an email, a phone) went there too. Requests are now logged by the route they matched,
// with the names of their query parameters only.

t.test('the log names the route and the query parameters, never their values or an unknown path', async (t) => {
  const { app, logs } = await build(t)
  const flowId = 'Qhv2gzkMPjTjgLP11dF6FlLYxFxeV172mecpBDZx2kw'
  await app.inject({ method: 'GET', url: `/api/auth/status?flowId=${flowId}` })
  await app.inject({ method: 'GET', url: '/api/nowhere/ada.lovelace%40example.com?phone=%2B14155552671' })
  await app.inject({ method: 'DELETE', url: '/api/sessions/ada.lovelace@example.com' })
  const text = logs.join('\n')
  for (const secret of [flowId, 'ada.lovelace', '4155552671']) t.notOk(text.includes(secret), `${secret.slice(0, 12)}… is not in the log`)
  const urls = logs.map((line) => JSON.parse(line) as { req?: { url?: string } }).flatMap((entry) => entry.req?.url ?? [])
  t.same(urls, ['/api/auth/status?flowId', '(no route)?phone', '/api/sessions/:id'])
})
