import t from 'tap'
import type { DatabaseHandle } from '../../src/db/client.js'
import { APP_ORIGIN, signedIn, startRig } from '../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../fixtures/authenticator.js'

// Finding: refresh, capture-biometric and passkey sign-in committed their transaction and only then read what
// the reply needed (the roles in the access token, the device). When that read failed (the database going away
// at that moment) the client got a 503 while the work was done: a refresh had rotated the token the client still
// held, so its retry looked like theft and ended the session; a capture had consumed the flow, so the retry found
// none; a sign-in left a session nobody held. The reply is now made inside the transaction.

const ADA = { email: 'ada@example.com', phone: '+14155552671' }

/**
 * Every read of and write to `vottery.<table>` fails as if the connection had failed (SQLSTATE 08006), until
 * the returned `restore`: the table is swapped for a view whose condition raises.
 */
async function breakTable(database: DatabaseHandle, table: string) {
  await database.query(`create function vottery.test_unavailable() returns boolean language plpgsql as $$
    begin raise exception 'the database went away' using errcode = '08006'; end $$`)
  await database.query(`alter table vottery.${table} rename to ${table}_real`)
  await database.query(`create view vottery.${table} as select * from vottery.${table}_real where vottery.test_unavailable()`)
  return async () => {
    await database.query(`drop view vottery.${table}`)
    await database.query(`alter table vottery.${table}_real rename to ${table}`)
    await database.query('drop function vottery.test_unavailable()')
  }
}

t.test('a refresh whose reply fails leaves the token as it was: the retry works and the session lives', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  await browser.onboard(ADA)
  const token = browser.refreshToken!
  const restore = await breakTable(rig.database, 'user_roles')
  const failed = await browser.refresh()
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'service_unavailable')
  t.equal(browser.refreshToken, token, 'the client still holds its token')
  await restore()
  const retried = await browser.refresh()
  t.equal(retried.statusCode, 200, `the retry works (${retried.json().code ?? ''})`)
  const [session] = await rig.database.query<{ revoked_reason: string | null }>('select revoked_reason from vottery.sessions')
  t.equal(session!.revoked_reason, null, 'the session was not ended')
  const tokens = await rig.database.query<{ n: number }>('select count(*)::int as n from vottery.refresh_tokens')
  t.equal(tokens[0]!.n, 2, 'one rotation, by the retry')
})

t.test('a capture whose reply fails leaves the flow: new options and a retry sign the person in', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  const flowId = await browser.verifyEmail(ADA.email)
  await browser.verifyPhone(flowId, ADA.phone)
  const key = new SoftwareAuthenticator()
  const options = (await browser.post('/api/auth/biometric/options', { flowId })).json()
  const restore = await breakTable(rig.database, 'user_roles')
  const failed = await browser.post('/api/auth/capture-biometric', { flowId, credential: key.createRegistrationResponse(options) })
  t.equal(failed.statusCode, 503)
  await restore()
  t.same(await rig.database.query('select id from vottery.users'), [], 'no user was created')
  const retried = await browser.captureBiometric(flowId, new SoftwareAuthenticator())
  t.equal(retried.statusCode, 201, `the retry signs in (${retried.json().code ?? ''})`)
  t.equal((await rig.database.query('select 1 from vottery.sessions')).length, 1, 'one session')
})

t.test('a passkey sign-in whose reply fails opens no session', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  const key = new SoftwareAuthenticator()
  const first = await browser.onboard(ADA, key)
  await browser.request({ method: 'POST', url: '/api/auth/logout', headers: { origin: APP_ORIGIN } })
  const restore = await breakTable(rig.database, 'user_roles')
  const failed = await browser.passkeyLogin(key)
  t.equal(failed.statusCode, 503)
  await restore()
  const live = await rig.database.query<{ id: string }>('select id from vottery.sessions where revoked_at is null')
  t.same(live, [], 'the failed sign-in left no live session behind')
  const retried = await browser.passkeyLogin(key)
  t.equal(retried.statusCode, 200)
  t.not(signedIn(retried).sessionId, first.sessionId)
})

t.test('a refresh whose device bookkeeping fails still renews the session', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const browser = rig.device()
  await browser.onboard(ADA)
  const [before] = await rig.database.query<{ last_seen_at: Date }>('select last_seen_at from vottery.devices')
  // The device's bookkeeping fails; the session and its tokens are as usual.
  const restore = await breakTable(rig.database, 'devices')
  const token = browser.refreshToken!
  const refreshed = await browser.refresh()
  await restore()
  t.equal(refreshed.statusCode, 200, `the refresh went through (${refreshed.json().code ?? ''})`)
  t.not(browser.refreshToken, token, 'with a new refresh token')
  const again = await browser.refresh()
  t.equal(again.statusCode, 200, 'which works in turn')
  const [after] = await rig.database.query<{ last_seen_at: Date }>('select last_seen_at from vottery.devices')
  t.ok(new Date(after!.last_seen_at) > new Date(before!.last_seen_at), 'and the device is seen again once it can be written')
})
