import t from 'tap'
import { randomBytes } from 'node:crypto'
import { addSnginePerson, createSngineTable, openSharedDatabase, REDIS_URL, usingPostgres } from '../helper.js'
import { startServerProcess, type ServerProcess } from '../fixtures/server-process.js'
import { deliveryEnv } from '../fixtures/delivery-env.js'
import { startFakeSmtp } from '../fixtures/smtp.js'
import { startFakeTwilio } from '../fixtures/twilio.js'
import { SoftwareAuthenticator } from '../fixtures/authenticator.js'
import { HttpDevice } from '../fixtures/http-device.js'

// Two server processes behind one (pretend) load balancer: same PostgreSQL database, same Redis, same keys.
// The embedded database is one process's alone, so there is nothing to share without PostgreSQL.
const skip = usingPostgres ? false : 'two instances share a PostgreSQL database: set DATABASE_URL to run this file'

/** The origin both instances allow (CORS and WebAuthn), as a browser page on it would send. */
const ORIGIN = 'http://localhost:3000'
const RATE_LIMIT = 30

/**
 * A documentation-range IPv6 address no other test uses: the instances trust the loopback proxy's
 * X-Forwarded-For, so each scenario has its own rate-limit budget in the shared Redis.
 */
const someIp = () => `2001:db8:${randomBytes(6).toString('hex').match(/.{4}/g)!.join(':')}::1`

t.test('two instances on one database and one Redis', { skip }, async (t) => {
  const shared = await openSharedDatabase(t)
  const database = await shared.open()
  await createSngineTable(database)
  const person = { email: 'grace@example.com', phone: '+14155552671' }
  await addSnginePerson(database, person)
  await database.close()

  const smtp = await startFakeSmtp(t)
  const twilio = await startFakeTwilio(t)
  const env = {
    ...shared.env,
    REDIS_URL,
    TRUST_PROXY: '127.0.0.1',
    RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
    WEBAUTHN_ORIGINS: ORIGIN,
    CORS_ORIGINS: ORIGIN,
    ...deliveryEnv(smtp.url, twilio),
  }
  // One after the other: the first applies the migrations and makes the keys, the second finds them.
  const a: ServerProcess = await startServerProcess(t, env)
  const b: ServerProcess = await startServerProcess(t, env)
  const browser = new HttpDevice({ headers: { 'x-forwarded-for': someIp(), origin: ORIGIN } })
  const authenticator = new SoftwareAuthenticator({ origin: ORIGIN })
  let accessToken = ''

  await t.test('a flow started on A finishes on B', async (t) => {
    const sent = await browser.post(`${a.url}/api/auth/send-otp`, { channel: 'email', email: person.email })
    t.equal(sent.statusCode, 202, 'email code sent by A')
    const flowId = sent.json<{ flowId: string }>().flowId
    const mail = await smtp.waitForMail(person.email)
    const emailCode = mail.text.match(/\b\d{6}\b/)![0]
    const emailVerified = await browser.post(`${b.url}/api/auth/verify-otp`, { flowId, channel: 'email', code: emailCode })
    t.equal(emailVerified.statusCode, 200, 'email code verified by B')
    t.equal(emailVerified.json().next, 'sms', 'the flow moves on to the phone')

    const smsSent = await browser.post(`${a.url}/api/auth/send-otp`, { channel: 'sms', flowId, phone: person.phone })
    t.equal(smsSent.statusCode, 202, 'SMS code sent by A')
    const sms = await twilio.waitForMessage(person.phone)
    const smsVerified = await browser.post(`${b.url}/api/auth/verify-otp`, { flowId, channel: 'sms', code: sms.body.match(/\b\d{6}\b/)![0] })
    t.equal(smsVerified.statusCode, 200, 'SMS code verified by B')
    t.equal(smsVerified.json().next, 'biometric', 'the flow moves on to the passkey')

    const options = await browser.post(`${a.url}/api/auth/biometric/options`, { flowId })
    t.equal(options.statusCode, 200, 'creation options (and the challenge) from A')
    const credential = authenticator.createRegistrationResponse(options.json() as never)
    const captured = await browser.post(`${b.url}/api/auth/capture-biometric`, { flowId, credential })
    t.equal(captured.statusCode, 201, `passkey captured and session opened by B${captured.statusCode === 201 ? '' : `: ${captured.body}`}`)
    accessToken = captured.json<{ accessToken: string }>().accessToken
    t.ok(browser.refreshToken, 'B set the refresh cookie')

    for (const [name, server] of [['A', a], ['B', b]] as const) {
      const status = await browser.get(`${server.url}/api/auth/status`, { authorization: `Bearer ${accessToken}` })
      t.equal(status.json().authenticated, true, `the access token B signed is accepted by ${name}`)
    }
    const refreshed = await browser.post(`${a.url}/api/auth/refresh-token`, undefined)
    t.equal(refreshed.statusCode, 200, 'the refresh cookie B set is honoured by A')
    accessToken = refreshed.json<{ accessToken: string }>().accessToken

    const login = await browser.post(`${b.url}/api/auth/passkey/options`, {})
    t.equal(login.statusCode, 200, 'sign-in options from B')
    const assertion = authenticator.createAuthenticationResponse(login.json() as never)
    const verified = await browser.post(`${a.url}/api/auth/passkey/verify`, { credential: assertion })
    t.equal(verified.statusCode, 200, 'the passkey sign-in B started is completed by A')
    // The browser's refresh cookie is now this new session's: the next test ends it by logging out.
    accessToken = verified.json<{ accessToken: string }>().accessToken
  })

  await t.test('the per-IP rate limit is one budget across both instances', async (t) => {
    const client = new HttpDevice({ headers: { 'x-forwarded-for': someIp() } })
    const codes: Array<{ instance: 'A' | 'B'; status: number }> = []
    for (let i = 0; i < RATE_LIMIT + 10; i++) {
      const [instance, server] = i % 2 === 0 ? ['A', a] as const : ['B', b] as const
      codes.push({ instance, status: (await client.get(`${server.url}/api/nowhere`)).statusCode })
    }
    const allowed = codes.filter((c) => c.status !== 429)
    t.equal(allowed.length, RATE_LIMIT, `${RATE_LIMIT} requests pass in all, not ${RATE_LIMIT} per instance`)
    t.ok(codes.slice(0, RATE_LIMIT).every((c) => c.status === 404), 'the first ones reach the router')
    t.ok(codes.slice(RATE_LIMIT).every((c) => c.status === 429), 'every later one is limited, on either instance')
    t.ok(codes.some((c) => c.instance === 'A' && c.status === 429) && codes.some((c) => c.instance === 'B' && c.status === 429),
      'both instances refuse once the shared budget is spent')
    const other = await new HttpDevice({ headers: { 'x-forwarded-for': someIp() } }).get(`${b.url}/api/nowhere`)
    t.equal(other.statusCode, 404, 'another address has its own budget')
  })

  await t.test('a logout on A makes the access token refused on B within 2 s', async (t) => {
    const bearer = { authorization: `Bearer ${accessToken}` }
    const before = await browser.get(`${b.url}/api/sessions`, bearer)
    t.equal(before.statusCode, 200, 'B accepts the access token before the logout')

    const logout = await browser.post(`${a.url}/api/auth/logout`, undefined, bearer)
    t.equal(logout.statusCode, 204, 'logged out on A')
    const deadline = Date.now() + 2000
    // Poll B on a fresh address each time, so the polling cannot run into the rate limit.
    let status = 0
    while (Date.now() < deadline) {
      const poller = new HttpDevice({ headers: { 'x-forwarded-for': someIp() } })
      status = (await poller.get(`${b.url}/api/sessions`, bearer)).statusCode
      if (status === 401) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    t.equal(status, 401, 'B refuses the token of the session A ended, before the 2 s deadline')
    t.equal((await browser.get(`${a.url}/api/sessions`, bearer)).statusCode, 401, 'so does A')
  })

  for (const [name, server] of [['A', a], ['B', b]] as const) {
    t.notMatch(server.output(), /"level":(50|60)/, `no error logged by ${name}`)
  }
})
