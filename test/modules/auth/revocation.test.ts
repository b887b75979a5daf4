import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { APP_ORIGIN, startRig, type Rig } from '../../fixtures/onboarding.js'
import { build, usingPostgres } from '../../helper.js'
import { openDatabase } from '../../../src/db/client.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
/** The contract: a revoked session's access tokens stop working on every instance "within seconds". */
const PROPAGATION_LIMIT_MS = 2000

/**
 * Another instance of the service on the same database. On PostgreSQL it has its own connections (as
 * a second process would); on PGlite, where one process owns the embedded database, it shares the handle.
 */
async function secondInstance(t: Tap, rig: Rig): Promise<FastifyInstance> {
  const database = usingPostgres
    ? Object.assign(await openDatabase({ url: rig.database.url, poolMax: 3 }), { url: rig.database.url })
    : rig.database
  const env = { MAIL_TRANSPORT: 'log', SMS_TRANSPORT: 'log' }
  const { app } = await build(t, { database, env })
  if (usingPostgres) t.teardown(() => database.close())
  return app
}
type Tap = Parameters<typeof startRig>[0]

/** Polls until `app` refuses the token; returns how long that took, or null if it never did within the limit. */
async function refusedWithin(app: FastifyInstance, headers: Record<string, string>, limitMs: number): Promise<number | null> {
  const started = Date.now()
  while (Date.now() - started <= limitMs) {
    const reply = await app.inject({ method: 'GET', url: '/api/sessions', headers })
    if (reply.statusCode === 401) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return null
}

t.test('a session ended on one instance is refused by the other within seconds', async (t) => {
  const rig = await startRig(t)
  const other = await secondInstance(t, rig)
  await rig.addPerson(ADA)
  const laptop = rig.device()
  const key = new SoftwareAuthenticator()
  const first = await laptop.onboard(ADA, key)
  t.equal((await other.inject({ method: 'GET', url: '/api/sessions', headers: first.headers })).statusCode, 200, 'the other instance accepts the token')

  // Logout on this instance.
  const out = await laptop.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  t.equal(out.statusCode, 204)
  t.not(await refusedWithin(other, first.headers, PROPAGATION_LIMIT_MS), null, 'logout reaches the other instance')

  // Session delete on the other instance reaches this one.
  const second = await laptop.passkeyLogin(key)
  t.equal(second.statusCode, 200)
  const secondHeaders = { authorization: `Bearer ${second.json().accessToken}` }
  const third = await rig.device('1.1.1.1').passkeyLogin(key)
  const thirdHeaders = { authorization: `Bearer ${third.json().accessToken}` }
  const removed = await other.inject({ method: 'DELETE', url: `/api/sessions/${second.json().session.id}`, headers: thirdHeaders })
  t.equal(removed.statusCode, 204)
  t.not(await refusedWithin(rig.app, secondHeaders, PROPAGATION_LIMIT_MS), null, 'session delete reaches the first instance')

  // Refresh token reuse detected on the other instance.
  const stolen = (third.cookies as { name: string; value: string }[]).find((c) => c.name === 'vt_refresh')!.value
  const legit = await other.inject({ method: 'POST', url: '/api/auth/refresh-token', headers: { origin: APP_ORIGIN }, cookies: { vt_refresh: stolen } })
  t.equal(legit.statusCode, 200, 'its owner refreshes')
  const replay = await other.inject({ method: 'POST', url: '/api/auth/refresh-token', headers: { origin: APP_ORIGIN }, cookies: { vt_refresh: stolen } })
  t.equal(replay.json().code, 'refresh_token_reused')
  t.not(await refusedWithin(rig.app, thirdHeaders, PROPAGATION_LIMIT_MS), null, 'reuse detection reaches the first instance')
})

t.test('missed notifications: the periodic re-read and a fresh start still know every revoked session', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const session = await rig.device().onboard(ADA)
  // Ended straight in the table, as if the notification were lost.
  await rig.database.query(`update vottery.sessions set revoked_at = now(), revoked_reason = 'test' where id = $1`, [session.sessionId])
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/sessions', headers: session.headers })).statusCode, 200, 'not yet known in memory')
  t.equal(await rig.app.sessions.syncRevocations(), 1)
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/sessions', headers: session.headers })).statusCode, 401, 'known after the re-read')

  const late = await secondInstance(t, rig)
  t.equal((await late.inject({ method: 'GET', url: '/api/sessions', headers: session.headers })).statusCode, 401, 'an instance started later loads it at start')
})
