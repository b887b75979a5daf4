import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { addSnginePerson, createPostgresDatabase, createSngineTable, testConfig, usingPostgres } from '../helper.js'
import { captureLogs } from '../fixtures/logs.js'
import { startTcpProxy, type CutMode, type TcpProxy } from '../fixtures/tcp-proxy.js'
import { startFakeSmtp } from '../fixtures/smtp.js'
import { startFakeTwilio } from '../fixtures/twilio.js'
import { deliveryEnv } from '../fixtures/delivery-env.js'
import { SoftwareAuthenticator } from '../fixtures/authenticator.js'
import { Device, signedIn, type Rig } from '../fixtures/onboarding.js'
import { errorBodyProblems, leakProblems } from '../fixtures/reply-checks.js'
import { abandonedSendSeconds } from '../../src/modules/auth/flow-service.js'

/**
 * PostgreSQL stopped mid-load: the app reaches its database through a TCP proxy the test cuts (connections
 * reset: the server went away) and blackholes (packets swallowed: a partition, where only the client's own
 * timeouts can tell). Every reply meanwhile is a prompt 503 `service_unavailable` with Retry-After, never a 500
 * or a hang; readiness says 503; after the database returns the app recovers by itself; and nothing is left
 * half-written.
 */

/** A reply later than this is a hang (a detector, not a speed requirement: the database timeouts below are 1.5 s). */
const HANG_MS = 10_000
/** How long the app may take to be ready again once the database is back. */
const RECOVERY_MS = 30_000

const skip = usingPostgres ? false : 'needs PostgreSQL (set DATABASE_URL): the outage is a TCP proxy in front of a real server'

interface Outcome {
  /** The phase when the request was sent; `endPhase` when it was answered (an outage may start in between). */
  phase: string
  endPhase: string
  route: string
  status: number | 'hang'
  code?: string
  reqId?: string
  retryAfter?: string
  body?: string
  problems: string[]
  /**
   * Why a refusal is what a correct server answers: an earlier request of the same client did its work but its
   * reply was lost to the outage (the commit went through, the answer did not come back), so the retry finds
   * the work done.
   */
  excuse?: string
}

t.test('database outage under load: prompt 503s, readiness 503, recovery, nothing half-written', { skip, timeout: 180_000 }, async (t) => {
  const url = await createPostgresDatabase(t)
  const direct = await openDatabase({ url, poolMax: 3 })
  t.teardown(() => direct.close())
  await runMigrations(direct)
  await createSngineTable(direct)
  const target = new URL(url)
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) }, t)

  const smtp = await startFakeSmtp(t)
  const twilio = await startFakeTwilio(t)
  const config = testConfig({
    DATABASE_URL: proxy.via(url),
    DATABASE_POOL_MAX: '6',
    DATABASE_CONNECT_TIMEOUT_MS: '1500',
    DATABASE_STATEMENT_TIMEOUT_MS: '1500',
    ...deliveryEnv(smtp.url, twilio),
    SMTP_TIMEOUT_MS: '1000',
    SMS_TIMEOUT_MS: '1000',
    OTP_RESEND_COOLDOWN: '1',
    OTP_SENDS_PER_DESTINATION_PER_HOUR: '10000',
    OTP_SENDS_PER_IP_PER_HOUR: '100000',
  })
  const captured = captureLogs('info')
  const app = await buildApp(config, { logger: captured.logger })
  t.teardown(() => app.close())
  await app.ready()

  const rig: Rig = {
    app, database: direct, config, logs: captured.lines, smtp, twilio,
    device: (ip?: string, userAgent?: string) => new Device(rig, ip, userAgent),
    addPerson: (person) => addSnginePerson(direct, person),
  }

  const outcomes: Outcome[] = []
  let phase = 'warm-up'
  /** Sends one request, bounded by the hang detector, and records how it went. */
  async function observe(
    route: string,
    send: () => Promise<LightMyRequestResponse>,
    /** A refusal with this code is excused, for this reason (see `Outcome.excuse`). */
    excused?: { code: string; because: string },
  ): Promise<LightMyRequestResponse | null> {
    const inPhase = phase
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise<'hang'>((resolve) => { timer = setTimeout(() => resolve('hang'), HANG_MS) })
    const reply = await Promise.race([send(), hung])
    clearTimeout(timer)
    if (reply === 'hang') {
      outcomes.push({ phase: inPhase, endPhase: phase, route, status: 'hang', problems: [] })
      return null
    }
    const problems = leakProblems(reply.body)
    let code: string | undefined
    if (route === 'health/ready') {
      code = reply.statusCode === 503 && reply.json().status === 'unavailable' ? 'service_unavailable' : undefined
    } else if (reply.statusCode >= 400) {
      problems.push(...errorBodyProblems(reply))
      code = (JSON.parse(reply.body) as { code?: string }).code
    }
    outcomes.push({
      phase: inPhase, endPhase: phase, route, status: reply.statusCode, code, problems, reqId: reply.headers['x-request-id'] as string,
      retryAfter: reply.headers['retry-after'] as string | undefined,
      body: reply.statusCode >= 500 ? reply.body : undefined,
      excuse: excused && reply.statusCode >= 400 && code === excused.code ? excused.because : undefined,
    })
    return reply
  }

  /** A refresh whose reply was lost went through: retrying its token is reuse, and ends the session. */
  const RETRIED_REFRESH = { code: 'refresh_token_reused', after: 'refresh-token', because: 'the session was ended by retrying a refresh whose reply was lost' }

  /**
   * One person going through onboarding and then using their session, one request at a time; every
   * failure leaves the client where a real one would be (it retries the step, or starts over). A reply lost
   * to the outage leaves the client unsure whether the work was done; the retry then finds out, as a real
   * front end would: a step already verified moves on, a passkey already registered signs in, a session
   * ended by the retried refresh (reuse detection cannot tell a lost reply from a stolen token) signs in again.
   */
  class Person {
    browser: Device
    key = new SoftwareAuthenticator()
    stage: 'start' | 'email-sent' | 'email-verified' | 'sms-sent' | 'phone-verified' | 'registered' | 'signed-in' = 'start'
    flowId = ''
    access = ''
    turn = 0
    /** Onboardings completed. */
    onboarded = 0
    /** Mails and messages before the last send: its code is in one that came after. */
    mailsBefore = 0
    messagesBefore = 0
    /** The routes whose reply was lost (5xx or no answer) while their work may have been done. */
    lost = new Set<string>()
    /** Their session ended under them (401): their next steps sign in with the passkey. */
    signedOut = false

    /** `newcomer`: once signed in, starts over on a new device (a steady stream of onboardings). */
    constructor(readonly email: string, readonly phone: string, readonly ip: string, readonly newcomer = false) {
      this.browser = rig.device(ip)
    }

    /**
     * `observe`, keeping track of lost replies. A refusal is excused when `code` is `excused` and a reply of
     * `after` was lost.
     */
    async send(route: string, send: () => Promise<LightMyRequestResponse>, excused?: { code: string; after: string; because: string }) {
      const reply = await observe(route, send, excused && this.lost.has(excused.after) ? excused : undefined)
      if (reply === null || reply.statusCode >= 500) this.lost.add(route)
      return reply
    }

    /** The code in the newest of `texts` (waiting a little for it to arrive), if any. */
    async codeSince(texts: () => string[]): Promise<string | undefined> {
      for (let i = 0; i < 50; i++) {
        const code = texts().flatMap((text) => text.match(/\b\d{6}\b/)?.[0] ?? []).at(-1)
        if (code) return code
        await sleep(50)
      }
      return undefined
    }

    signedIn(accessToken: string) {
      this.access = accessToken
      this.lost.delete('capture-biometric')
      this.stage = 'signed-in'
      this.onboarded++
      if (this.newcomer) {
        this.browser = rig.device(this.ip)
        this.key = new SoftwareAuthenticator()
        this.stage = 'start'
      }
    }

    async passkeySignIn(): Promise<LightMyRequestResponse | null> {
      return this.send('passkey sign-in', async () => {
        const options = await this.browser.post('/api/auth/passkey/options', {})
        if (options.statusCode !== 200) return options
        return this.browser.post('/api/auth/passkey/verify', { credential: this.key.createAuthenticationResponse(options.json()) })
      })
    }

    async step(): Promise<void> {
      const b = this.browser
      const verified = (after: string) => ({ code: 'already_verified', after, because: 'the step was verified by a request whose reply was lost' })
      switch (this.stage) {
        case 'start': {
          this.mailsBefore = smtp.mails.length
          const reply = await this.send('send-otp email', () => b.post('/api/auth/send-otp', { channel: 'email', email: this.email }))
          if (reply?.statusCode === 202) {
            this.flowId = reply.json().flowId
            this.stage = 'email-sent'
            // A new flow: its steps start unverified. A lost capture still counts: the passkey stays on the authenticator.
            this.lost.delete('verify-otp email')
            this.lost.delete('verify-otp sms')
          }
          return
        }
        case 'email-sent': {
          const code = await this.codeSince(() => smtp.mails.slice(this.mailsBefore).filter((m) => m.envelopeTo.includes(this.email)).map((m) => m.text))
          if (!code) { this.stage = 'start'; return }
          const reply = await this.send('verify-otp email', () => b.post('/api/auth/verify-otp', { flowId: this.flowId, channel: 'email', code }), verified('verify-otp email'))
          if (reply?.statusCode === 200 || reply?.json().code === 'already_verified') this.stage = 'email-verified'
          else if (reply && reply.statusCode < 500) this.stage = 'start'
          return
        }
        case 'email-verified': {
          this.messagesBefore = twilio.messages.length
          const reply = await this.send('send-otp sms', () => b.post('/api/auth/send-otp', { channel: 'sms', flowId: this.flowId, phone: this.phone }), verified('verify-otp sms'))
          if (reply?.statusCode === 202) this.stage = 'sms-sent'
          else if (reply?.json().code === 'already_verified') this.stage = 'phone-verified'
          else if (reply?.statusCode === 404) this.stage = 'start'
          return
        }
        case 'sms-sent': {
          const code = await this.codeSince(() => twilio.messages.slice(this.messagesBefore).filter((m) => m.to === this.phone).map((m) => m.body))
          if (!code) { this.stage = 'email-verified'; return }
          const reply = await this.send('verify-otp sms', () => b.post('/api/auth/verify-otp', { flowId: this.flowId, channel: 'sms', code }), verified('verify-otp sms'))
          if (reply?.statusCode === 200 || reply?.json().code === 'already_verified') this.stage = 'phone-verified'
          else if (reply?.statusCode === 404) this.stage = 'start'
          else if (reply && reply.statusCode < 500) this.stage = 'email-verified'
          return
        }
        case 'phone-verified': {
          const options = await this.send('biometric/options', () => b.post('/api/auth/biometric/options', { flowId: this.flowId }))
          if (options?.statusCode === 404) this.stage = 'start'
          if (options?.statusCode !== 200) return
          let credential
          try {
            credential = this.key.createRegistrationResponse(options.json())
          } catch (error) {
            // The browser's answer when this authenticator already holds one of the account's passkeys.
            if ((error as DOMException).name !== 'InvalidStateError' || !this.lost.has('capture-biometric')) throw error
            this.stage = 'registered'
            return
          }
          const reply = await this.send('capture-biometric', () => b.post('/api/auth/capture-biometric', { flowId: this.flowId, credential }),
            { code: 'credential_exists', after: 'capture-biometric', because: 'the passkey was stored by a capture whose reply was lost' })
          if (reply?.statusCode === 201) this.signedIn(signedIn(reply).accessToken)
          else if (reply?.json().code === 'credential_exists') this.stage = 'registered'
          else if (reply?.statusCode === 404) this.stage = 'start'
          return
        }
        case 'registered': {
          const reply = await this.passkeySignIn()
          if (reply?.statusCode === 200) this.signedIn(reply.json().accessToken)
          return
        }
        case 'signed-in': {
          const headers = { authorization: `Bearer ${this.access}` }
          let reply: LightMyRequestResponse | null
          // Signed out, the front end sends its user to sign in with the passkey, and does nothing else.
          switch (this.signedOut ? 3 : this.turn++ % 4) {
            case 0:
              reply = await this.send('status', () => b.get('/api/auth/status', headers))
              break
            case 1:
              reply = await this.send('refresh-token', () => b.refresh(), RETRIED_REFRESH)
              break
            case 2:
              reply = await this.send('sessions', () => b.get('/api/sessions', headers))
              break
            default:
              reply = await this.passkeySignIn()
          }
          if (reply?.statusCode === 401) this.signedOut = true
          // A new token pair (refresh or sign-in): whatever a lost refresh did, this browser no longer holds its token.
          const accessToken = reply?.statusCode === 200 ? reply.json().accessToken as string | undefined : undefined
          if (accessToken) { this.access = accessToken; this.signedOut = false; this.lost.delete('refresh-token') }
        }
      }
    }
  }

  // Four people who sign in and then use their session; two who keep onboarding new devices.
  const people: Person[] = []
  for (let i = 0; i < 6; i++) {
    const person = new Person(`person${i}@example.com`, `+1415555${String(1000 + i)}`, `203.0.113.${20 + i}`, i >= 4)
    await rig.addPerson({ email: person.email, phone: person.phone })
    people.push(person)
  }
  const users = people.filter((p) => !p.newcomer)

  let running = true
  /** What the clients themselves threw (a bug in the test's client, or a reply no client could use). */
  const clientErrors: string[] = []
  const loops = people.map(async (person) => {
    while (running) {
      try {
        await person.step()
      } catch (error) {
        clientErrors.push(`${phase} ${person.email} at ${person.stage}: ${(error as Error).stack}`)
        person.stage = 'start'
      }
      await sleep(5)
    }
  })

  const ready = () => observe('health/ready', () => app.inject({ method: 'GET', url: '/health/ready' }))
  async function waitForReady(): Promise<boolean> {
    const deadline = Date.now() + RECOVERY_MS
    while (Date.now() < deadline) {
      if ((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200) return true
      await sleep(200)
    }
    return false
  }

  async function outage(mode: CutMode, proxy: TcpProxy, ms: number) {
    phase = mode
    proxy.cut(mode)
    const until = Date.now() + ms
    while (Date.now() < until) {
      await ready()
      await sleep(300)
    }
    proxy.restore()
    phase = `after ${mode}`
    t.ok(await waitForReady(), `ready again within ${RECOVERY_MS / 1000} s of the database coming back (${mode})`)
    phase = `recovered from ${mode}`
  }

  for (let waited = 0; waited < 60_000 && !users.every((p) => p.stage === 'signed-in'); waited += 100) await sleep(100)
  t.ok(users.every((p) => p.stage === 'signed-in'), 'the load reached signed-in sessions before the outage')
  await sleep(1000)
  await outage('reset', proxy, 3000)
  await sleep(2500)
  await outage('blackhole', proxy, 5000)
  await sleep(2500)
  running = false
  await Promise.all(loops)

  // What each phase got.
  const summary = new Map<string, number>()
  for (const o of outcomes) {
    const key = `${o.phase} | ${o.route} | ${o.status}${o.code ? ' ' + o.code : ''}`
    summary.set(key, (summary.get(key) ?? 0) + 1)
  }
  t.comment([...summary].map(([key, n]) => `${n}\t${key}`).join('\n'))
  const excused = outcomes.filter((o) => o.excuse)
  if (excused.length > 0) t.comment(excused.map((o) => `${o.phase} ${o.route}: ${o.status} ${o.code}, as ${o.excuse}`).join('\n'))
  // The log of any request that failed once the database was back, to tell why.
  const failedLate = new Set(outcomes.filter((o) => o.phase.startsWith('recovered') && o.endPhase === o.phase && o.status !== 'hang' && o.status >= 400).map((o) => o.reqId))
  if (failedLate.size > 0) t.comment(captured.entries().filter((e) => failedLate.has(e.reqId as string)).map((e) => JSON.stringify(e).slice(0, 600)).join('\n'))

  t.same(clientErrors, [], 'no client was left with a reply it could not use')
  const during = outcomes.filter((o) => o.phase === 'reset' || o.phase === 'blackhole')
  t.ok(during.length > 20, `requests kept coming during the outages (${during.length})`)
  t.same(outcomes.filter((o) => o.status === 'hang').map((o) => `${o.phase} ${o.route}`), [], `no request took ${HANG_MS / 1000} s or more`)
  t.same(outcomes.filter((o) => o.status === 500).map((o) => `${o.phase} ${o.route}: ${o.body}`), [], 'no 500')
  const unavailable = outcomes.filter((o) => typeof o.status === 'number' && o.status >= 500)
  t.same(unavailable.filter((o) => o.status !== 503 || o.code !== 'service_unavailable' || !(Number(o.retryAfter) > 0))
    .map((o) => `${o.phase} ${o.route}: ${o.status} ${o.code} retry-after ${o.retryAfter}`), [],
  'every 5xx is 503 service_unavailable with Retry-After')
  t.same(outcomes.flatMap((o) => o.problems.map((p) => `${o.phase} ${o.route} ${o.status}: ${p}`)), [], 'every error body is the contract\'s, without stack or SQL')
  // An outage is an outside condition: warnings naming the cause, not errors with stacks.
  const errors = captured.entries().filter((e) => e.level >= 50)
  t.same([...new Set(errors.map((e) => e.msg))], [], 'nothing was logged at error level during the outages')
  for (const mode of ['reset', 'blackhole']) {
    const readiness = during.filter((o) => o.phase === mode && o.route === 'health/ready')
    t.ok(readiness.length > 0 && readiness.every((o) => o.status === 503), `readiness said 503 throughout the ${mode} (${readiness.map((o) => o.status).join(' ')})`)
    t.ok(during.some((o) => o.phase === mode && o.route !== 'health/ready' && o.status === 503), `requests were refused with 503 during the ${mode}`)
  }
  // Once ready again, every request is answered as if nothing had happened, but for one thing: a send whose
  // outcome could not be written during the outage holds off the next one until it counts as abandoned.
  const settled = outcomes.filter((o) => o.phase.startsWith('recovered') && o.endPhase === o.phase)
  t.same(settled.filter((o) => o.status !== 'hang' && o.status >= 500).map((o) => `${o.phase} ${o.route}: ${o.status} ${o.code}`), [],
    'once ready again, no request fails for want of the database')
  const heldOff = (o: Outcome) => o.status === 429 && o.code === 'otp_resend_too_soon' && Number(o.retryAfter) <= abandonedSendSeconds(config)
  t.same(settled.filter((o) => o.status !== 'hang' && o.status >= 400 && !heldOff(o) && !o.excuse).map((o) => `${o.phase} ${o.route}: ${o.status} ${o.code}`), [],
    'and none is refused (a send cut short holds the next one off for a bounded time)')

  // Every person carries on: whoever was signed in still is, the others finish onboarding.
  /** Steps until signed in (a newcomer: until one more onboarding is complete), waiting as told when held off. */
  async function finish(person: Person): Promise<boolean> {
    const done = person.newcomer ? person.onboarded + 1 : 1
    for (let i = 0; i < 20 && (person.onboarded < done || person.signedOut); i++) {
      const before = outcomes.length
      await person.step()
      const last = outcomes[before]
      if (last?.status === 429) await sleep(Number(last.retryAfter) * 1000)
    }
    return person.onboarded >= done && !person.signedOut
  }
  for (const person of people) {
    t.ok(await finish(person), `${person.email} ${person.newcomer ? 'onboards another device' : 'is signed in'} after the outages`)
  }
  for (const person of users) {
    let refreshed = await person.send('refresh-token', () => person.browser.refresh(), RETRIED_REFRESH)
    if (refreshed?.statusCode === 401 && refreshed.json().code === 'refresh_token_reused' && person.lost.has('refresh-token')) {
      t.equal((await person.passkeySignIn())?.statusCode, 200, `${person.email}, whose last refresh was lost, signs in again`)
      refreshed = await person.send('refresh-token', () => person.browser.refresh())
    }
    t.equal(refreshed?.statusCode, 200, `${person.email}'s session survived the outages (${refreshed?.statusCode} ${refreshed?.json().code ?? ''})`)
  }
  const late = new Person('late@example.com', '+14155552000', '203.0.113.99')
  await rig.addPerson({ email: late.email, phone: late.phone })
  t.ok(await finish(late), 'a whole onboarding works after the outages')

  // Nothing half-written: checked in the database itself, not through the app.
  const check = async (what: string, sql: string) => {
    const rows = await direct.query(sql)
    t.same(rows, [], what)
  }
  await check('no flow has a verified step without its used code', `
    select f.id, c.channel from vottery.verification_flows f
    cross join (values ('email'), ('sms')) as c(channel)
    where (case c.channel when 'email' then f.email_verified_at else f.phone_verified_at end) is not null
      and not exists (select 1 from vottery.otp_codes o where o.flow_id = f.id and o.channel = c.channel and o.used_at is not null)`)
  await check('no used code whose flow step is not verified', `
    select o.id from vottery.otp_codes o join vottery.verification_flows f on f.id = o.flow_id
    where o.used_at is not null and (case o.channel when 'email' then f.email_verified_at else f.phone_verified_at end) is null`)
  await check('no consumed flow without its user', `
    select f.id from vottery.verification_flows f where f.consumed_at is not null
      and not exists (select 1 from vottery.users u where u.sngine_user_id = f.sngine_user_id)`)
  await check('no user without a passkey and a device', `
    select u.id from vottery.users u
    where not exists (select 1 from vottery.webauthn_credentials c where c.user_id = u.id)
       or not exists (select 1 from vottery.devices d where d.user_id = u.id)`)
  await check('no passkey without its device, or on another user\'s device', `
    select c.id from vottery.webauthn_credentials c left join vottery.devices d on d.id = c.device_id
    where d.id is null or d.user_id <> c.user_id`)
  await check('no session without a device of its user, or without its refresh token', `
    select s.id from vottery.sessions s left join vottery.devices d on d.id = s.device_id
    where d.id is null or d.user_id <> s.user_id
       or not exists (select 1 from vottery.refresh_tokens r where r.session_id = s.id)`)
  await check('every live session has exactly one current refresh token', `
    select s.id from vottery.sessions s where s.revoked_at is null
      and (select count(*) from vottery.refresh_tokens r where r.session_id = s.id and r.rotated_at is null) <> 1`)
  // A refresh whose reply was lost, retried, ends its session (reuse detection cannot tell it from theft); no
  // session ends otherwise, and none more than there were such retries.
  const retriedRefreshes = outcomes.filter((o) => o.code === 'refresh_token_reused' && o.excuse).length
  const ended = await direct.query<{ id: string; revoked_reason: string }>('select id, revoked_reason from vottery.sessions where revoked_at is not null')
  t.same(ended.filter((s) => s.revoked_reason !== 'refresh_token_reused'), [], 'no session ended by the outage but by a retried refresh')
  t.ok(ended.length <= retriedRefreshes, `no more sessions ended (${ended.length}) than refreshes were retried after a lost reply (${retriedRefreshes})`)
})
