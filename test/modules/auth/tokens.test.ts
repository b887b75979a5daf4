import t from 'tap'
import { APP_ORIGIN, startRig, type Rig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }

type CookieInfo = { name: string; value: string; path?: string; maxAge?: number; expires?: Date; httpOnly?: boolean; sameSite?: string; secure?: boolean }
const refreshCookie = (reply: { cookies: unknown }) => (reply.cookies as CookieInfo[]).find((c) => c.name === 'vt_refresh')

async function onboarded(rig: Rig, person = ADA, ip?: string) {
  await rig.addPerson(person)
  const browser = rig.device(ip)
  const session = await browser.onboard(person)
  return { browser, session }
}

t.test('refresh rotates the cookie; a rotated token used again ends the whole session', async (t) => {
  const rig = await startRig(t)
  const { browser, session } = await onboarded(rig)
  const [header] = session.accessToken.split('.')
  t.match(JSON.parse(Buffer.from(header!, 'base64url').toString()), { alg: 'EdDSA', typ: 'at+jwt', kid: /.+/ })

  const first = browser.refreshToken!
  const refreshed = await browser.refresh()
  t.equal(refreshed.statusCode, 200, refreshed.body)
  t.same(Object.keys(refreshed.json()).sort(), ['accessToken', 'expiresIn', 'tokenType'])
  t.match(refreshed.json(), { tokenType: 'Bearer', expiresIn: 600 })
  t.equal(refreshed.headers['cache-control'], 'no-store')
  const cookie = refreshCookie(refreshed)
  t.match(cookie, { path: '/api/auth', httpOnly: true, sameSite: 'Strict' })
  t.not(cookie!.value, first, 'rotated')
  const second = browser.refreshToken!
  const renewedHeaders = { authorization: `Bearer ${refreshed.json().accessToken}` }
  t.equal((await browser.get('/api/sessions', renewedHeaders)).statusCode, 200, 'the new access token works')
  t.equal((await browser.refresh()).statusCode, 200, 'and the new refresh token does')
  const third = browser.refreshToken!

  // Someone replays the first token.
  const thief = rig.device('198.51.100.66')
  const reused = await thief.refresh({ origin: APP_ORIGIN, cookie: `vt_refresh=${first}` })
  t.equal(reused.statusCode, 401)
  t.equal(reused.json().code, 'refresh_token_reused')
  t.match(refreshCookie(reused), { value: '' }, 'the cookie is cleared')

  for (const [name, token] of [['second (rotated)', second], ['current', third]]) {
    const reply = await thief.refresh({ origin: APP_ORIGIN, cookie: `vt_refresh=${token}` })
    t.equal(reply.statusCode, 401, `${name} refresh token`)
    t.equal(reply.json().code, 'invalid_refresh_token')
  }
  for (const [name, headers] of [['first', session.headers], ['renewed', renewedHeaders]] as const) {
    const reply = await browser.get('/api/sessions', headers)
    t.equal(reply.statusCode, 401, `${name} access token`)
    t.equal(reply.json().code, 'unauthorized')
  }
  t.same((await browser.get('/api/auth/status', session.headers)).json(), { authenticated: false })
  const [row] = await rig.database.query<{ revoked_reason: string }>('select revoked_reason from vottery.sessions')
  t.equal(row!.revoked_reason, 'refresh_token_reused')
  t.ok(rig.logs.some((line) => line.includes('refresh token reused')), 'the theft is logged')
  const metrics = (await rig.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^vottery_refresh_token_reuse_total 1$/m, 'and counted')
  const audited = await rig.database.query<{ type: string; user_id: string }>(`select type, user_id from vottery.audit_events where type like 'session.%'`)
  t.same(audited, [{ type: 'session.refresh_token_reused', user_id: session.userId }], 'and audited')
})

t.test('concurrent refreshes with one token: exactly one wins', async (t) => {
  const rig = await startRig(t)
  const { browser } = await onboarded(rig)
  const token = browser.refreshToken!
  const attempts = await Promise.all(Array.from({ length: 6 }, () => rig.app.inject({
    method: 'POST',
    url: '/api/auth/refresh-token',
    headers: { origin: APP_ORIGIN },
    cookies: { vt_refresh: token },
  })))
  const winners = attempts.filter((reply) => reply.statusCode === 200)
  t.equal(winners.length, 1, attempts.map((reply) => `${reply.statusCode} ${reply.json().code ?? ''}`).join(', '))
  const losers = attempts.filter((reply) => reply.statusCode !== 200)
  for (const loser of losers) {
    t.equal(loser.statusCode, 401)
    t.ok(['invalid_refresh_token', 'refresh_token_reused'].includes(loser.json().code), loser.json().code)
  }
  const tokens = await rig.database.query<{ n: number }>('select count(*)::int as n from vottery.refresh_tokens')
  t.equal(tokens[0]!.n, 2, 'one rotation: the old token and one new one')

  // A racer that lost while the rotation was in flight is refused quietly; one that arrived after it
  // presented an already rotated token, which is reuse, and the session ends for everyone.
  const reused = losers.some((reply) => reply.json().code === 'refresh_token_reused')
  const [session] = await rig.database.query<{ revoked_reason: string | null }>('select revoked_reason from vottery.sessions')
  t.equal(session!.revoked_reason, reused ? 'refresh_token_reused' : null)
  const next = await rig.app.inject({
    method: 'POST', url: '/api/auth/refresh-token', headers: { origin: APP_ORIGIN }, cookies: { vt_refresh: refreshCookie(winners[0]!)!.value },
  })
  t.equal(next.statusCode, reused ? 401 : 200, reused ? 'the winner\'s token ended with the session' : 'the winner carries on')
})

t.test('cookie-authenticated routes want an allowed Origin; a refused request spends nothing', async (t) => {
  const rig = await startRig(t)
  const { browser, session } = await onboarded(rig)
  for (const url of ['/api/auth/refresh-token', '/api/auth/logout']) {
    for (const [name, headers] of [['no Origin', {}], ['a foreign Origin', { origin: 'https://evil.example' }], ['null', { origin: 'null' }],
      ['the right host on another port', { origin: 'http://localhost:3001' }]] as const) {
      const reply = await browser.request({ method: 'POST', url, headers })
      t.equal(reply.statusCode, 403, `${url}: ${name}`)
      t.equal(reply.json().code, 'origin_not_allowed')
    }
  }
  t.equal((await browser.get('/api/sessions', session.headers)).statusCode, 200, 'the session is untouched')
  t.equal((await browser.refresh()).statusCode, 200, 'and its refresh token unspent')
})

t.test('missing, malformed and unknown refresh tokens', async (t) => {
  const rig = await startRig(t)
  const browser = rig.device()
  for (const [name, cookie] of [['none', undefined], ['malformed', 'vt_refresh=abc'], ['unknown', `vt_refresh=${'A'.repeat(43)}`]] as const) {
    const reply = await browser.refresh({ origin: APP_ORIGIN, ...(cookie ? { cookie } : {}) })
    t.equal(reply.statusCode, 401, name)
    t.equal(reply.json().code, 'invalid_refresh_token', name)
  }
})

t.test('idle and absolute lifetimes of a session', async (t) => {
  const rig = await startRig(t, { env: { REFRESH_IDLE_TTL: '2', REFRESH_ABSOLUTE_TTL: '3600' } })
  const idle = await onboarded(rig, ADA)
  await new Promise((resolve) => setTimeout(resolve, 2200))
  const expired = await idle.browser.refresh()
  t.equal(expired.statusCode, 401, 'unused for longer than the idle lifetime')
  t.equal(expired.json().code, 'invalid_refresh_token')

  const busy = await onboarded(rig, BOB, '203.0.113.20')
  t.equal((await busy.browser.refresh()).statusCode, 200)
  // The idle deadline moves with use but never past the absolute end.
  await rig.database.query(`update vottery.sessions set expires_at = now() + interval '1 second' where id = $1`, [busy.session.sessionId])
  t.equal((await busy.browser.refresh()).statusCode, 200)
  const [capped] = await rig.database.query<{ capped: boolean }>('select idle_expires_at = expires_at as capped from vottery.sessions where id = $1', [busy.session.sessionId])
  t.ok(capped!.capped, 'idle deadline capped at the absolute end')
  // Past the absolute end however recently used.
  await rig.database.query(`update vottery.sessions set expires_at = now() - interval '1 second', idle_expires_at = now() + interval '1 hour' where id = $1`, [busy.session.sessionId])
  const over = await busy.browser.refresh()
  t.equal(over.statusCode, 401)
  t.equal(over.json().code, 'invalid_refresh_token')
  const list = await busy.browser.get('/api/sessions', busy.session.headers)
  t.same(list.json(), [], 'an expired session is not listed')
})

t.test('the absolute lifetime from configuration bounds the session and the cookie', async (t) => {
  const rig = await startRig(t, { env: { REFRESH_IDLE_TTL: '60', REFRESH_ABSOLUTE_TTL: '120' } })
  const { browser, session } = await onboarded(rig)
  const cookie = refreshCookie(session.reply)!
  t.ok(cookie.maxAge! <= 120 && cookie.maxAge! > 100, 'cookie kept for the absolute lifetime')
  const [row] = await rig.database.query<{ idle: number; absolute: number }>(
    'select extract(epoch from idle_expires_at - created_at)::int as idle, extract(epoch from expires_at - created_at)::int as absolute from vottery.sessions',
  )
  t.ok(Math.abs(row!.idle - 60) <= 1 && Math.abs(row!.absolute - 120) <= 1, JSON.stringify(row))
  t.equal((await browser.refresh()).statusCode, 200)
})

t.test('logout ends the session, clears the cookie, and kills its access tokens', async (t) => {
  const rig = await startRig(t)
  const { browser, session } = await onboarded(rig)
  const token = browser.refreshToken!
  const out = await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  t.equal(out.statusCode, 204)
  t.equal(out.body, '')
  const cleared = refreshCookie(out)!
  t.equal(cleared.value, '')
  t.equal(cleared.path, '/api/auth')
  t.equal(browser.refreshToken, undefined)

  t.equal((await browser.get('/api/sessions', session.headers)).statusCode, 401, 'access token dead')
  const afterwards = await browser.refresh({ origin: APP_ORIGIN, cookie: `vt_refresh=${token}` })
  t.equal(afterwards.json().code, 'invalid_refresh_token', 'refresh token dead')
  const [row] = await rig.database.query<{ revoked_reason: string }>('select revoked_reason from vottery.sessions')
  t.equal(row!.revoked_reason, 'logout')
  const audited = await rig.database.query<{ data: unknown }>(`select data from vottery.audit_events where type = 'session.revoked'`)
  t.same(audited.map((event) => event.data), [{ reason: 'logout', sessions: 1 }])

  const again = await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  t.equal(again.statusCode, 204, 'logging out twice is harmless')

  // Without the cookie (another client of the API), the access token says which session to end.
  await rig.addPerson(BOB)
  const bob = rig.device('203.0.113.30')
  const bobSession = await bob.onboard(BOB)
  const byToken = await rig.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN, ...bobSession.headers } })
  t.equal(byToken.statusCode, 204)
  t.equal((await bob.get('/api/sessions', bobSession.headers)).statusCode, 401)
  t.equal((await bob.refresh()).json().code, 'invalid_refresh_token')
})

t.test('behind https the refresh cookie is Secure, and SameSite follows configuration', async (t) => {
  const origin = 'https://localhost:3443'
  const rig = await startRig(t, { env: { WEBAUTHN_ORIGINS: origin, CORS_ORIGINS: origin, COOKIE_SAMESITE: 'lax' } })
  await rig.addPerson(ADA)
  const browser = rig.device()
  const session = await browser.onboard(ADA, new SoftwareAuthenticator({ origin }))
  t.match(refreshCookie(session.reply), { secure: true, sameSite: 'Lax', httpOnly: true, path: '/api/auth' })
  t.equal((await browser.refresh()).json().code, 'origin_not_allowed', 'the http origin is not the configured one')
  const refreshed = await browser.refresh({ origin })
  t.equal(refreshed.statusCode, 200)
  t.match(refreshCookie(refreshed), { secure: true, sameSite: 'Lax' })
  const out = await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin } })
  t.match(refreshCookie(out), { value: '', secure: true, sameSite: 'Lax', path: '/api/auth' })
})
