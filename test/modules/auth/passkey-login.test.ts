import t from 'tap'
import { generateRegistrationOptions } from '@simplewebauthn/server'
import { signedIn, startRig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'

t.test('a returning user signs in with the passkey: same body as onboarding, the device recognised by its cookie', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ ...ADA, firstName: 'Ada', lastName: 'Lovelace' })
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const authenticator = new SoftwareAuthenticator()
  const onboarded = await laptop.onboard(ADA, authenticator, { name: 'Work laptop' })

  const optionsReply = await laptop.post('/api/auth/passkey/options', {})
  t.equal(optionsReply.statusCode, 200)
  const options = optionsReply.json()
  t.match(options, { rpId: 'localhost', userVerification: 'required' })
  t.notOk(options.allowCredentials?.length, 'discoverable: no credential list, the authenticator offers its own')
  t.equal(Buffer.from(options.challenge, 'base64url').length, 32)
  t.equal((await laptop.post('/api/auth/passkey/options', { userId: 'x' })).json().code, 'validation_failed')

  const before = laptop.refreshToken
  const reply = await laptop.post('/api/auth/passkey/verify', { credential: authenticator.createAuthenticationResponse(options) })
  t.equal(reply.statusCode, 200, reply.body)
  const body = reply.json()
  t.same(Object.keys(body).sort(), ['accessToken', 'device', 'expiresIn', 'session', 'tokenType', 'user'])
  t.equal(body.user.id, onboarded.userId)
  t.equal(body.device.id, onboarded.deviceId, 'the same device row: found by its vt_device cookie')
  t.match(body.device, { name: 'Work laptop', hasPasskey: true, current: true })
  t.not(body.session.id, onboarded.sessionId, 'a new session')
  t.not(laptop.refreshToken, before, 'a new refresh cookie')
  t.ok(Date.parse(body.user.lastLoginAt) >= Date.parse(onboarded.reply.json().user.lastLoginAt))
  const status = await laptop.get('/api/auth/status', signedIn(reply).headers)
  t.match(status.json(), { authenticated: true, session: { id: body.session.id, current: true } })

  const [credential] = await rig.database.query<{ counter: string | number; last_used_at: Date | null }>('select counter, last_used_at from vottery.webauthn_credentials')
  t.equal(Number(credential!.counter), 1, 'the counter the authenticator reported')
  t.ok(credential!.last_used_at, 'last use recorded')

  // The same passkey from a browser without the cookie (cleared, or another browser): a new device row.
  const otherBrowser = rig.device('1.1.1.1', FIREFOX_WINDOWS)
  const elsewhere = await otherBrowser.passkeyLogin(authenticator)
  t.equal(elsewhere.statusCode, 200)
  t.match(elsewhere.json().device, { browser: 'Firefox', os: 'Windows', ip: '1.1.1.1', hasPasskey: false, location: { country: 'AU' } })
  t.not(elsewhere.json().device.id, onboarded.deviceId)

  // Back on the laptop from another address: last address and time move.
  const moved = rig.device('9.9.9.9', CHROME_MAC)
  for (const [name, value] of laptop.cookies) if (name === 'vt_device') moved.cookies.set(name, value)
  const again = await moved.passkeyLogin(authenticator)
  t.equal(again.json().device.id, onboarded.deviceId)
  t.equal(again.json().device.ip, '9.9.9.9')
  t.ok(Date.parse(again.json().device.lastSeenAt) >= Date.parse(body.device.lastSeenAt))
  t.equal((await rig.database.query('select 1 from vottery.devices')).length, 2)
  t.equal((await rig.database.query('select 1 from vottery.sessions')).length, 4)
  const metrics = (await rig.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^vottery_logins_total\{method="passkey_registration"\} 1$/m)
  t.match(metrics, /^vottery_logins_total\{method="passkey"\} 3$/m)
  const audited = await rig.database.query<{ type: string }>(`select type from vottery.audit_events where type like 'passkey.%' order by seq`)
  t.same(audited.map((event) => event.type), ['passkey.registered', 'passkey.login', 'passkey.login', 'passkey.login'])
})

t.test('what a sign-in refuses', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const authenticator = new SoftwareAuthenticator()
  await phone.onboard(ADA, authenticator)
  const verify = (credential: unknown) => phone.post('/api/auth/passkey/verify', { credential })
  const options = async () => (await phone.post('/api/auth/passkey/options', {})).json()

  // A passkey this server never registered (made against our RP id, but never sent to us).
  const stranger = new SoftwareAuthenticator()
  stranger.createRegistrationResponse(await generateRegistrationOptions({ rpName: 'Vottery', rpID: 'localhost', userName: 'nobody' }))
  const unknown = await verify(stranger.createAuthenticationResponse(await options()))
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.json().code, 'unknown_credential')

  const cases: [string, (o: never) => unknown][] = [
    ['no user verification', (o) => authenticator.createAuthenticationResponse(o, { userVerified: false })],
    ['no user presence', (o) => authenticator.createAuthenticationResponse(o, { userPresent: false })],
    ['wrong origin', (o) => authenticator.createAuthenticationResponse(o, { origin: 'https://evil.example' })],
    ['wrong RP id', (o) => authenticator.createAuthenticationResponse(o, { rpId: 'evil.example' })],
    ['forged signature', (o) => authenticator.createAuthenticationResponse(o, { tamper: 'signature' })],
    ['client data changed after signing', (o) => authenticator.createAuthenticationResponse(o, { tamper: 'clientData' })],
    ['a registration ceremony type', (o) => authenticator.createAuthenticationResponse(o, { type: 'webauthn.create' })],
    ['a challenge the server never gave', (o) => authenticator.createAuthenticationResponse(o, { challenge: 'bm90LWEtY2hhbGxlbmdlLXdlLWdhdmU' })],
    ['another user handle', (o) => {
      const response = authenticator.createAuthenticationResponse(o)
      return { ...response, response: { ...response.response, userHandle: Buffer.alloc(16, 1).toString('base64url') } }
    }],
    ['unreadable client data', (o) => {
      const response = authenticator.createAuthenticationResponse(o)
      return { ...response, response: { ...response.response, clientDataJSON: 'e30' } }
    }],
  ]
  for (const [name, make] of cases) {
    const refused = await verify(make((await options()) as never))
    t.equal(refused.statusCode, 401, name)
    t.equal(refused.json().code, 'passkey_verification_failed', name)
  }

  // A challenge answers once, and only on the device it was given to.
  const request = await options()
  const response = authenticator.createAuthenticationResponse(request)
  const other = rig.device('198.51.100.9')
  t.equal((await other.post('/api/auth/passkey/verify', { credential: response })).json().code, 'passkey_verification_failed', 'another device cookie')
  t.equal((await verify(response)).statusCode, 200, 'the device it was given to, once')
  t.equal((await verify(response)).json().code, 'passkey_verification_failed', 'replayed')

  // A failed attempt spends the challenge too.
  const spent = await options()
  t.equal((await verify(authenticator.createAuthenticationResponse(spent, { userVerified: false }))).statusCode, 401)
  t.equal((await verify(authenticator.createAuthenticationResponse(spent))).json().code, 'passkey_verification_failed')

  const [row] = await rig.database.query<{ disabled_at: Date | null }>('select disabled_at from vottery.webauthn_credentials')
  t.equal(row!.disabled_at, null, 'none of these disabled the passkey')
  t.equal((await phone.passkeyLogin(authenticator)).statusCode, 200, 'which still works')
  t.equal((await phone.post('/api/auth/passkey/verify', { credential: { id: 'x' } })).json().code, 'validation_failed')
})

t.test('a counter that goes backwards with a genuine signature: credential_cloned, and the passkey is disabled', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const original = new SoftwareAuthenticator()
  await phone.onboard(ADA, original)
  const copy = original.clone()
  t.equal((await phone.passkeyLogin(original)).statusCode, 200)
  t.equal((await phone.passkeyLogin(original)).statusCode, 200)

  const cloned = await phone.passkeyLogin(copy)
  t.equal(cloned.statusCode, 401)
  t.equal(cloned.json().code, 'credential_cloned')
  const [row] = await rig.database.query<{ disabled_at: Date | null; disabled_reason: string | null; counter: string | number }>(
    'select disabled_at, disabled_reason, counter from vottery.webauthn_credentials',
  )
  t.ok(row!.disabled_at, 'disabled')
  t.equal(row!.disabled_reason, 'cloned')
  const audited = await rig.database.query<{ type: string }>(`select type from vottery.audit_events where type = 'passkey.cloned'`)
  t.equal(audited.length, 1, 'audited')
  t.equal(Number(row!.counter), 2, 'the counter was not moved by the clone')

  const afterwards = await phone.passkeyLogin(original)
  t.equal(afterwards.statusCode, 401)
  t.equal(afterwards.json().code, 'unknown_credential', 'a disabled passkey is not known any more, even to its owner')
  const status = await phone.get('/api/auth/status')
  t.same(status.json(), { authenticated: false })
})

t.test('an equal counter is a regression too; a forged assertion with a low counter is not a clone', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const authenticator = new SoftwareAuthenticator()
  await phone.onboard(ADA, authenticator)
  t.equal((await phone.passkeyLogin(authenticator, { counter: 5 })).statusCode, 200)

  const forged = await phone.passkeyLogin(authenticator, { counter: 1, tamper: 'signature' })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().code, 'passkey_verification_failed', 'a bad signature says nothing about copies')
  const forgedEqual = await phone.passkeyLogin(authenticator, { counter: 5, tamper: 'signature' })
  t.equal(forgedEqual.json().code, 'passkey_verification_failed')
  let [row] = await rig.database.query<{ disabled_at: Date | null; counter: string | number }>('select disabled_at, counter from vottery.webauthn_credentials')
  t.equal(row!.disabled_at, null, 'not disabled by forgeries')
  t.equal(Number(row!.counter), 5)

  t.equal((await phone.passkeyLogin(authenticator, { counter: 6 })).statusCode, 200, 'the real authenticator goes on')
  const equal = await phone.passkeyLogin(authenticator, { counter: 6 })
  t.equal(equal.json().code, 'credential_cloned', 'the same counter twice, genuinely signed')
  ;[row] = await rig.database.query('select disabled_at, counter from vottery.webauthn_credentials')
  t.ok(row!.disabled_at)
})

t.test('authenticators that never count; backup state may change, backup eligibility may not', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const synced = new SoftwareAuthenticator({ backupEligible: true })
  await phone.onboard(ADA, synced)
  for (let i = 0; i < 3; i++) t.equal((await phone.passkeyLogin(synced, { counter: 0 })).statusCode, 200, `use ${i + 1} with counter 0`)

  t.equal((await phone.passkeyLogin(synced, { counter: 0, backupState: true })).statusCode, 200, 'backed up since: fine')
  let [row] = await rig.database.query<{ backup_state: boolean; backup_eligible: boolean }>('select backup_state, backup_eligible from vottery.webauthn_credentials')
  t.same(row, { backup_state: true, backup_eligible: true })

  // The stored credential says single-device; an assertion claiming backup eligibility is not from it.
  await rig.database.query('update vottery.webauthn_credentials set backup_eligible = false, backup_state = false')
  const changed = await phone.passkeyLogin(synced, { counter: 0 })
  t.equal(changed.statusCode, 401)
  t.equal(changed.json().code, 'passkey_verification_failed')
  ;[row] = await rig.database.query('select backup_state, backup_eligible from vottery.webauthn_credentials')
  t.same(row, { backup_state: false, backup_eligible: false }, 'nothing stored from the refused assertion')
})
