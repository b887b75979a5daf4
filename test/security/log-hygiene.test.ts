import t from 'tap'
import { request } from 'undici'
import type { LightMyRequestResponse } from 'fastify'
import { addSnginePerson, createSngineTable, openSharedDatabase, TEST_ENV } from '../helper.js'
import { captureLogs } from '../fixtures/logs.js'
import { APP_ORIGIN, signedIn, startRig } from '../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../fixtures/authenticator.js'
import { startFakeSmtp, SMTP_PASSWORD } from '../fixtures/smtp.js'
import { startFakeTwilio } from '../fixtures/twilio.js'
import { startServerProcess } from '../fixtures/server-process.js'
import { deliveryEnv } from '../fixtures/delivery-env.js'
import { leakProblems } from '../fixtures/reply-checks.js'

/**
 * After a whole run of the service (onboarding, passkey sign-in, refresh, logout, profile and demographics,
 * and errors along the way) with everything logged at trace level, no log line carries a one-time code, an
 * access or refresh token, the device cookie, or the person's email (any case) or phone (any spelling); and
 * no reply carries a stack trace or SQL.
 */

// Typed the way people type them: the email with capitals, the phone in national format.
const TYPED_EMAIL = 'Ada.Lovelace@Example.COM'
const EMAIL = 'ada.lovelace@example.com'
const TYPED_PHONE = '(415) 555-2671'
const PHONE = '+14155552671'
const PHONE_SPELLINGS = [PHONE, '14155552671', '4155552671', '415-555-2671', '(415) 555-2671', '415 555 2671', '555-2671', '5552671']

/** Every spelling of a secret that must not appear in `text` (compared case-insensitively). */
function findSecrets(text: string, secrets: Map<string, string>): string[] {
  const lower = text.toLowerCase()
  return [...secrets].filter(([, value]) => value.length >= 6 && lower.includes(value.toLowerCase())).map(([name]) => name)
}

function replyProblems(body: string): string[] {
  const problems = leakProblems(body)
  if (/stack/i.test(body)) problems.push('the word "stack"')
  if (/\bselect\s|\binsert\s+into\b|\bupdate\s+"?\w+"?\s+set\b|\bdelete\s+from\b/i.test(body)) problems.push('SQL')
  return problems
}

t.test('a whole run at trace level: no code, token, cookie, email or phone in any log line; no stack or SQL in any reply', async (t) => {
  const captured = captureLogs('trace')
  const rig = await startRig(t, { env: { LOG_LEVEL: 'trace' }, deps: { logger: captured.logger } })
  await rig.addPerson({ email: EMAIL, phone: PHONE, firstName: 'Ada', lastName: 'Lovelace' })
  const secrets = new Map<string, string>([['the email', EMAIL], ['the email as typed', TYPED_EMAIL], ['the email\'s local part', 'ada.lovelace']])
  for (const spelling of PHONE_SPELLINGS) secrets.set(`the phone as ${spelling}`, spelling)
  secrets.set('the SMTP password', SMTP_PASSWORD)
  secrets.set('the Twilio auth token', rig.twilio.authToken)
  secrets.set('the master key', TEST_ENV.VOTTERY_MASTER_KEY!)

  const replies: Array<{ what: string; reply: LightMyRequestResponse }> = []
  const browser = rig.device('203.0.113.7', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36')
  const send = async (what: string, reply: Promise<LightMyRequestResponse>) => {
    const answered = await reply
    replies.push({ what, reply: answered })
    for (const cookie of answered.cookies as Array<{ name: string; value: string }>) {
      if (cookie.value) secrets.set(`the ${cookie.name} cookie (${what})`, cookie.value)
    }
    const body = answered.body.startsWith('{') ? answered.json() as Record<string, unknown> : {}
    if (typeof body.accessToken === 'string') secrets.set(`the access token (${what})`, body.accessToken)
    if (typeof body.flowId === 'string') secrets.set(`the flow id (${what})`, body.flowId)
    return answered
  }
  const codeSecret = (what: string, code: string | undefined) => {
    t.ok(code, `a code was sent (${what})`)
    if (code) secrets.set(`the ${what} code`, code)
    return code ?? ''
  }

  // Onboarding, with a wrong code and a wrong phone on the way.
  const sent = await send('send-otp email', browser.post('/api/auth/send-otp', { channel: 'email', email: TYPED_EMAIL }))
  t.equal(sent.statusCode, 202)
  const flowId = sent.json().flowId as string
  const mailCode = codeSecret('email', rig.smtp.lastCode(EMAIL))
  const wrong = mailCode === '000000' ? '111111' : '000000'
  t.equal((await send('wrong email code', browser.post('/api/auth/verify-otp', { flowId, channel: 'email', code: wrong }))).statusCode, 400)
  t.equal((await send('verify-otp email', browser.post('/api/auth/verify-otp', { flowId, channel: 'email', code: mailCode }))).statusCode, 200)
  t.equal((await send('status with the flow', browser.get(`/api/auth/status?flowId=${encodeURIComponent(flowId)}`))).statusCode, 200)
  t.equal((await send('someone else\'s phone', browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+14155550100' }))).statusCode >= 400, true)
  t.equal((await send('send-otp sms', browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: TYPED_PHONE }))).statusCode, 202)
  const smsCode = codeSecret('SMS', rig.twilio.lastCode(PHONE))
  t.equal((await send('verify-otp sms', browser.post('/api/auth/verify-otp', { flowId, channel: 'sms', code: smsCode }))).statusCode, 200)
  const key = new SoftwareAuthenticator()
  const options = await send('biometric/options', browser.post('/api/auth/biometric/options', { flowId }))
  const captured201 = await send('capture-biometric', browser.post('/api/auth/capture-biometric', {
    flowId, credential: key.createRegistrationResponse(options.json()), device: { name: 'Ada\'s laptop', formFactor: 'laptop' },
  }))
  t.equal(captured201.statusCode, 201)
  let session = signedIn(captured201)
  await rig.smtp.waitForMail(EMAIL, 2)

  // Using the session.
  t.equal((await send('status', browser.get('/api/auth/status', session.headers))).statusCode, 200)
  t.equal((await send('profile', browser.get('/api/users/profile', session.headers))).statusCode, 200)
  t.equal((await send('profile update', browser.request({
    method: 'PUT', url: '/api/users/profile', headers: session.headers, payload: { displayName: 'Ada L.', bio: 'Analyst', preferences: { theme: 'dark' } },
  }))).statusCode, 200)
  t.equal((await send('demographics', browser.get('/api/users/demographics', session.headers))).statusCode, 200)
  t.equal((await send('demographics update', browser.request({
    method: 'PUT', url: '/api/users/demographics', headers: session.headers, payload: { gender: 'female', birthDate: '1985-12-10', country: 'GB', city: 'London' },
  }))).statusCode, 200)
  t.equal((await send('sessions', browser.get('/api/sessions', session.headers))).statusCode, 200)
  const refreshed = await send('refresh', browser.refresh())
  t.equal(refreshed.statusCode, 200)

  // Errors: bad input, a bogus cookie, a bogus token, an unknown path.
  t.equal((await send('malformed JSON', browser.request({
    method: 'POST', url: '/api/auth/verify-otp', headers: { 'content-type': 'application/json' }, payload: `{"flowId":"${flowId}","code":`,
  }))).statusCode, 400)
  t.equal((await send('invalid profile', browser.request({
    method: 'PUT', url: '/api/users/profile', headers: session.headers, payload: { avatarUrl: 'javascript:alert(1)', email: TYPED_EMAIL },
  }))).statusCode, 400)
  t.equal((await send('bogus refresh cookie', rig.app.inject({
    method: 'POST', url: '/api/auth/refresh-token', headers: { origin: APP_ORIGIN }, cookies: { vt_refresh: 'A'.repeat(43) },
  }))).statusCode, 401)
  t.equal((await send('bogus bearer', browser.get('/api/sessions', { authorization: `Bearer ${session.accessToken.slice(0, -4)}AAAA` }))).statusCode, 401)
  t.equal((await send('unknown path', browser.get(`/api/nowhere/${encodeURIComponent(TYPED_EMAIL)}`))).statusCode, 404)

  // Logout, then a passkey sign-in, a refresh and a logout again.
  t.equal((await send('logout', browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } }))).statusCode, 204)
  t.equal((await send('status after logout', browser.get('/api/users/profile', session.headers))).statusCode, 401)
  const request = await send('passkey/options', browser.post('/api/auth/passkey/options', {}))
  const login = await send('passkey/verify', browser.post('/api/auth/passkey/verify', { credential: key.createAuthenticationResponse(request.json()) }))
  t.equal(login.statusCode, 200)
  session = signedIn(login)
  t.equal((await send('status after sign-in', browser.get('/api/auth/status', session.headers))).statusCode, 200)
  t.equal((await send('refresh after sign-in', browser.refresh())).statusCode, 200)
  t.equal((await send('logout again', browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } }))).statusCode, 204)
  await rig.app.close()

  t.ok(captured.lines.length > 50, `the run was logged (${captured.lines.length} lines)`)
  t.equal(captured.logger.level, 'trace', 'at trace level')
  const urls = captured.entries().flatMap((entry) => typeof (entry.req as { url?: unknown } | undefined)?.url === 'string' ? [(entry.req as { url: string }).url] : [])
  t.ok(urls.includes('/api/auth/status?flowId'), 'requests are logged by route, with the names of their query parameters only')
  t.ok(urls.includes('(no route)'), 'and an unknown path is not logged at all')
  const leaked = new Map<string, number>()
  for (const line of captured.lines) {
    for (const name of findSecrets(line, secrets)) {
      leaked.set(name, (leaked.get(name) ?? 0) + 1)
      t.comment(line.slice(0, 600))
    }
  }
  t.same(Object.fromEntries(leaked), {}, `no log line carries any of ${secrets.size} secrets`)
  t.same(replies.flatMap(({ what, reply }) => replyProblems(reply.body).map((p) => `${what}: ${p}`)), [], `no reply (${replies.length}) carries a stack trace or SQL`)
})

t.test('the server process: its own logger, at trace level, from start to close', { timeout: 120_000 }, async (t) => {
  const shared = await openSharedDatabase(t)
  const setup = await shared.open()
  await createSngineTable(setup)
  await addSnginePerson(setup, { email: EMAIL, phone: PHONE })
  await setup.close()
  const smtp = await startFakeSmtp(t)
  const twilio = await startFakeTwilio(t)
  const server = await startServerProcess(t, {
    ...shared.env,
    LOG_LEVEL: 'trace',
    ...deliveryEnv(smtp.url, twilio),
  })
  const secrets = new Map<string, string>([['the email', EMAIL], ['the email as typed', TYPED_EMAIL]])
  for (const spelling of PHONE_SPELLINGS) secrets.set(`the phone as ${spelling}`, spelling)
  secrets.set('the SMTP password', SMTP_PASSWORD)
  secrets.set('the Twilio auth token', twilio.authToken)
  secrets.set('the master key', TEST_ENV.VOTTERY_MASTER_KEY!)

  let cookie = ''
  const bodies: string[] = []
  const call = async (path: string, payload: unknown) => {
    const reply = await request(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify(payload),
    })
    const setCookie = reply.headers['set-cookie']
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = line.split(';')
      cookie = pair!
      secrets.set('the vt_device cookie', pair!.split('=')[1]!)
    }
    const body = await reply.body.text()
    bodies.push(body)
    return { status: reply.statusCode, json: () => JSON.parse(body) as Record<string, string> }
  }
  const sent = await call('/api/auth/send-otp', { channel: 'email', email: TYPED_EMAIL })
  t.equal(sent.status, 202)
  const flowId = sent.json().flowId!
  secrets.set('the flow id', flowId)
  const mailCode = smtp.lastCode(EMAIL)!
  secrets.set('the email code', mailCode)
  t.equal((await call('/api/auth/verify-otp', { flowId, channel: 'email', code: mailCode === '000000' ? '111111' : '000000' })).status, 400)
  t.equal((await call('/api/auth/verify-otp', { flowId, channel: 'email', code: mailCode })).status, 200)
  t.equal((await call('/api/auth/send-otp', { channel: 'sms', flowId, phone: TYPED_PHONE })).status, 202)
  const smsCode = twilio.lastCode(PHONE)!
  secrets.set('the SMS code', smsCode)
  t.equal((await call('/api/auth/verify-otp', { flowId, channel: 'sms', code: smsCode })).status, 200)
  t.equal((await call('/api/auth/verify-otp', { flowId: 'x'.repeat(43), channel: 'sms', code: smsCode })).status, 404)

  server.child.kill('SIGTERM')
  await server.exited
  const output = server.output()
  t.ok(output.split('\n').filter(Boolean).length > 10, 'the server logged the run')
  t.same(findSecrets(output, secrets), [], 'no secret in the server\'s output')
  t.same(bodies.flatMap(replyProblems), [], 'no stack trace or SQL in its replies')
})
