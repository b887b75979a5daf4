import t from 'tap'
import { APP_ORIGIN, startRig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }

t.test('my sessions: list, end one, end the others; never someone else\'s', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const laptop = rig.device('8.8.8.8')
  const key = new SoftwareAuthenticator()
  const onLaptop = await laptop.onboard(ADA, key)
  await rig.smtp.waitForMail(ADA.email, 2)
  const phone = rig.device('1.1.1.1')
  const onPhone = await phone.onboard(ADA)
  const tablet = rig.device('9.9.9.9')
  const tabletLogin = await tablet.passkeyLogin(key)
  t.equal(tabletLogin.statusCode, 200)
  const onTablet = { sessionId: tabletLogin.json().session.id as string, headers: { authorization: `Bearer ${tabletLogin.json().accessToken}` } }
  const bob = await rig.device('203.0.113.40').onboard(BOB)

  const listed = await laptop.get('/api/sessions', onLaptop.headers)
  t.equal(listed.statusCode, 200)
  const sessions = listed.json() as { id: string; current: boolean; deviceId: string; ip: string }[]
  t.same(sessions.map((s) => s.id).sort(), [onLaptop.sessionId, onPhone.sessionId, onTablet.sessionId].sort(), 'mine, all of them, none of Bob\'s')
  t.same(sessions.filter((s) => s.current).map((s) => s.id), [onLaptop.sessionId], 'current marks this one only')
  const mine = sessions.find((s) => s.id === onLaptop.sessionId)!
  t.same(Object.keys(mine).sort(), ['createdAt', 'current', 'deviceId', 'expiresAt', 'id', 'ip', 'lastUsedAt'])
  t.match(mine, { deviceId: onLaptop.deviceId, ip: '8.8.8.8' })

  const foreign = await laptop.request({ method: 'DELETE', url: `/api/sessions/${bob.sessionId}`, headers: onLaptop.headers })
  t.equal(foreign.statusCode, 404, 'another user\'s session does not exist for me')
  t.equal(foreign.json().code, 'not_found')
  t.equal((await rig.device().get('/api/sessions', bob.headers)).statusCode, 200, 'and Bob\'s session is untouched')
  const unknown = await laptop.request({ method: 'DELETE', url: '/api/sessions/00000000-0000-4000-8000-000000000000', headers: onLaptop.headers })
  t.equal(unknown.statusCode, 404)
  const malformed = await laptop.request({ method: 'DELETE', url: '/api/sessions/not-a-uuid', headers: onLaptop.headers })
  t.match(malformed.json(), { statusCode: 400, code: 'validation_failed' })

  const ended = await laptop.request({ method: 'DELETE', url: `/api/sessions/${onPhone.sessionId}`, headers: onLaptop.headers })
  t.equal(ended.statusCode, 204)
  t.equal((await phone.get('/api/sessions', onPhone.headers)).statusCode, 401, 'the phone\'s access token is dead')
  t.equal((await phone.refresh()).json().code, 'invalid_refresh_token', 'and its refresh token')
  const twice = await laptop.request({ method: 'DELETE', url: `/api/sessions/${onPhone.sessionId}`, headers: onLaptop.headers })
  t.equal(twice.statusCode, 404, 'an ended session is gone')
  t.equal((await laptop.get('/api/sessions', onLaptop.headers)).json().length, 2)

  const noScope = await laptop.request({ method: 'DELETE', url: '/api/sessions', headers: onLaptop.headers })
  t.equal(noScope.json().code, 'validation_failed', 'ending sessions in bulk needs scope=others')
  const badScope = await laptop.request({ method: 'DELETE', url: '/api/sessions?scope=all', headers: onLaptop.headers })
  t.equal(badScope.json().code, 'validation_failed')
  const others = await laptop.request({ method: 'DELETE', url: '/api/sessions?scope=others', headers: onLaptop.headers })
  t.equal(others.statusCode, 204)
  t.equal((await tablet.get('/api/sessions', onTablet.headers)).statusCode, 401, 'the tablet is signed out')
  const left = (await laptop.get('/api/sessions', onLaptop.headers)).json()
  t.same(left.map((s: { id: string }) => s.id), [onLaptop.sessionId], 'only this one is left')
  t.equal((await laptop.refresh()).statusCode, 200, 'and it still refreshes')
  t.equal((await rig.device().get('/api/sessions', bob.headers)).statusCode, 200, 'Bob was never touched')

  // Ending my own session through the list works like logout.
  const self = await laptop.request({ method: 'DELETE', url: `/api/sessions/${onLaptop.sessionId}`, headers: onLaptop.headers })
  t.equal(self.statusCode, 204)
  t.equal((await laptop.get('/api/sessions', onLaptop.headers)).statusCode, 401)

  for (const [method, url] of [['GET', '/api/sessions'], ['DELETE', `/api/sessions/${bob.sessionId}`], ['DELETE', '/api/sessions?scope=others']] as const) {
    const anonymous = await rig.app.inject({ method, url })
    t.equal(anonymous.statusCode, 401, `${method} ${url} needs a token`)
    t.equal(anonymous.json().code, 'unauthorized')
  }
})

t.test('status: signed in only with a live session\'s access token; the flow beside it', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device('8.8.8.8')
  t.same((await browser.get('/api/auth/status')).json(), { authenticated: false })
  t.same((await browser.get('/api/auth/status', { authorization: 'Bearer not.a.token' })).json(), { authenticated: false }, 'a bad token is just not signed in')
  const session = await browser.onboard(ADA)
  t.equal(browser.refreshToken?.length, 43)
  t.same((await browser.get('/api/auth/status')).json(), { authenticated: false }, 'the refresh cookie alone does not sign anyone in here')

  // A new flow on this device while signed in: both answers in one status.
  const flowId = await browser.verifyEmail(ADA.email)
  const both = (await browser.get(`/api/auth/status?flowId=${flowId}`, session.headers)).json()
  t.match(both, { authenticated: true, user: { id: session.userId }, session: { id: session.sessionId, current: true }, device: { id: session.deviceId, current: true } })
  t.match(both.flow, { verified: { email: true, phone: false }, next: 'sms' })
  t.same(Object.keys(both).sort(), ['authenticated', 'device', 'flow', 'session', 'user'])
  t.match(both.user, { email: 'a***@example.com', phone: '+1******2671', roles: ['voter'] })
  t.equal(both.device.hasPasskey, true)

  // Read fresh each time: roles, the passkey, and a changed email (the masked forms are cached by sealed value).
  const { query } = rig.database
  await query('insert into vottery.user_roles (user_id, role) values ($1, $2)', [session.userId, 'admin'])
  await query('update vottery.webauthn_credentials set disabled_at = now() where device_id = $1', [session.deviceId])
  await query('update vottery.users set email_enc = $1 where id = $2', [await rig.app.crypto.seal('zoe@example.org', 'users.email'), session.userId])
  const changed = (await browser.get('/api/auth/status', session.headers)).json()
  t.match(changed, { authenticated: true, user: { email: 'z***@example.org', phone: '+1******2671', roles: ['admin', 'voter'] }, device: { hasPasskey: false } })
  await query('update vottery.sessions set idle_expires_at = now() - interval \'1 second\' where id = $1', [session.sessionId])
  t.same((await browser.get('/api/auth/status', session.headers)).json(), { authenticated: false }, 'an idle session has ended')
  await query('update vottery.sessions set idle_expires_at = expires_at where id = $1', [session.sessionId])
  t.equal((await browser.get('/api/auth/status', session.headers)).json().authenticated, true)

  await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  t.same((await browser.get('/api/auth/status', session.headers)).json(), { authenticated: false })
})

t.test('for other modules: end a device\'s sessions and disable its passkeys, or all of a user\'s sessions', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const laptop = rig.device('8.8.8.8')
  const laptopKey = new SoftwareAuthenticator()
  const onLaptop = await laptop.onboard(ADA, laptopKey)
  await rig.smtp.waitForMail(ADA.email, 2)
  const phone = rig.device('1.1.1.1')
  const phoneKey = new SoftwareAuthenticator()
  const onPhone = await phone.onboard(ADA, phoneKey)

  // What DELETE /api/devices/:id does for the laptop.
  t.same(await rig.app.sessions.revokeDeviceSessions(onLaptop.deviceId), [onLaptop.sessionId])
  t.equal(await rig.app.passkeys.disableForDevice(onLaptop.deviceId), 1)
  t.equal((await laptop.get('/api/sessions', onLaptop.headers)).statusCode, 401, 'the laptop\'s access token is dead')
  t.equal((await laptop.refresh()).json().code, 'invalid_refresh_token')
  t.equal((await laptop.passkeyLogin(laptopKey)).json().code, 'unknown_credential', 'its passkey signs nobody in')
  const [row] = await rig.database.query<{ disabled_reason: string }>('select disabled_reason from vottery.webauthn_credentials where device_id = $1', [onLaptop.deviceId])
  t.equal(row!.disabled_reason, 'device_removed')
  const phoneSessions = await phone.get('/api/sessions', onPhone.headers)
  t.equal(phoneSessions.statusCode, 200, 'the phone is untouched')
  t.same(phoneSessions.json().map((s: { id: string }) => s.id), [onPhone.sessionId])
  t.equal((await phone.passkeyLogin(phoneKey)).statusCode, 200)

  const ended = await rig.app.sessions.revokeUserSessions(onPhone.userId, 'user_disabled')
  t.equal(ended.length, 2, 'both phone sessions')
  t.equal((await phone.get('/api/sessions', onPhone.headers)).statusCode, 401)
  t.equal(await rig.app.passkeys.disableForUser(onPhone.userId, 'user_disabled'), 1, 'the one passkey still in use')
  t.equal((await phone.passkeyLogin(phoneKey)).json().code, 'unknown_credential')
})
