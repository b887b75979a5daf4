import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { APP_ORIGIN, startRig } from '../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../fixtures/authenticator.js'

/**
 * Races that resolve to exactly one winner, beside those tested with their features: the same code verified in
 * parallel and parallel wrong guesses (test/modules/auth/otp-limits.test.ts), parallel captures of one flow
 * (passkey-register.test.ts) and parallel refreshes with one token (tokens.test.ts).
 */

const ADA = { email: 'ada@example.com', phone: '+14155552671' }

t.test('one assertion sent several times at once signs in once', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  const key = new SoftwareAuthenticator()
  await browser.onboard(ADA, key)
  await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  const options = (await browser.post('/api/auth/passkey/options', {})).json()
  const credential = key.createAuthenticationResponse(options)
  const replies = await Promise.all([0, 1, 2, 3].map(() => browser.post('/api/auth/passkey/verify', { credential })))
  t.same(replies.map((r) => r.statusCode).sort(), [200, 401, 401, 401], replies.map((r) => r.json().code ?? 'ok').join(', '))
  for (const loser of replies.filter((r) => r.statusCode === 401)) t.equal(loser.json().code, 'passkey_verification_failed', 'the others find the challenge spent')
  const live = await rig.database.query('select id from vottery.sessions where revoked_at is null')
  t.equal(live.length, 1, 'one session opened')
  const [stored] = await rig.database.query<{ counter: number | string; disabled_at: Date | null }>('select counter, disabled_at from vottery.webauthn_credentials')
  t.equal(Number(stored!.counter), key.listCredentials()[0]!.counter, 'the counter is the assertion\'s')
  t.equal(stored!.disabled_at, null, 'and the passkey stays usable')
  t.equal((await browser.passkeyLogin(key)).statusCode, 200, 'as the next sign-in shows')
})

t.test('two assertions with the same counter at once: one signs in, the other is a clone', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  const key = new SoftwareAuthenticator()
  await browser.onboard(ADA, key)
  const counter = key.listCredentials()[0]!.counter + 5
  const first = key.createAuthenticationResponse((await browser.post('/api/auth/passkey/options', {})).json(), { counter })
  const second = key.createAuthenticationResponse((await browser.post('/api/auth/passkey/options', {})).json(), { counter })
  const replies = await Promise.all([first, second].map((credential) => browser.post('/api/auth/passkey/verify', { credential })))
  t.same(replies.map((r) => r.statusCode).sort(), [200, 401], replies.map((r) => r.json().code ?? 'ok').join(', '))
  t.equal(replies.find((r) => r.statusCode === 401)!.json().code, 'credential_cloned')
  const [stored] = await rig.database.query<{ counter: number | string }>('select counter from vottery.webauthn_credentials')
  t.equal(Number(stored!.counter), counter, 'the counter moved once')
})

t.test('parallel resends on one flow: one code goes out', async (t) => {
  const rig = await startRig(t, { env: { OTP_RESEND_COOLDOWN: '1' } })
  await rig.addPerson(ADA)
  const browser = rig.device()
  const { flowId } = (await browser.post('/api/auth/send-otp', { channel: 'email', email: ADA.email })).json()
  await rig.smtp.waitForMail(ADA.email)
  await sleep(1100)
  const replies = await Promise.all([0, 1, 2, 3, 4].map(() => browser.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })))
  t.same(replies.map((r) => r.statusCode).sort(), [202, 429, 429, 429, 429], replies.map((r) => r.json().code ?? 'ok').join(', '))
  await rig.smtp.waitForMail(ADA.email, 2)
  await sleep(200)
  t.equal(rig.smtp.mails.length, 2, 'one more mail, not five')
  const codes = await rig.database.query('select id from vottery.otp_codes where invalidated_at is null')
  t.equal(codes.length, 1, 'one live code')
  const verified = await browser.post('/api/auth/verify-otp', { flowId, channel: 'email', code: rig.smtp.lastCode(ADA.email) })
  t.equal(verified.statusCode, 200, 'and it is the one that verifies')
})

t.test('the right SMS code sent several times at once verifies once', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  const flowId = await browser.verifyEmail(ADA.email)
  t.equal((await browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: ADA.phone })).statusCode, 202)
  const code = rig.twilio.lastCode(ADA.phone)
  const replies = await Promise.all([0, 1, 2].map(() => browser.post('/api/auth/verify-otp', { flowId, channel: 'sms', code })))
  t.same(replies.map((r) => r.statusCode).sort(), [200, 409, 409], replies.map((r) => r.json().code ?? 'ok').join(', '))
  const used = await rig.database.query('select id from vottery.otp_codes where channel = \'sms\' and used_at is not null')
  t.equal(used.length, 1)
})
