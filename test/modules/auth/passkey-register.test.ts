import t from 'tap'
import { generateRegistrationOptions } from '@simplewebauthn/server'
import { signedIn, startRig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'

type CookieInfo = { name: string; value: string; httpOnly?: boolean; path?: string; sameSite?: string; maxAge?: number; secure?: boolean }

t.test('three steps, then a session: the passkey, the user, the device and the notices', async (t) => {
  const rig = await startRig(t)
  const sngineId = await rig.addPerson({ ...ADA, firstName: 'Ada', lastName: 'Lovelace &amp; Co' })
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const authenticator = new SoftwareAuthenticator({ aaguid: 'adce0002-35bc-c60a-648b-0b25f1f05503' })

  const flowId = await laptop.verifyEmail(ADA.email)
  await laptop.verifyPhone(flowId, ADA.phone)
  const optionsReply = await laptop.post('/api/auth/biometric/options', { flowId })
  t.equal(optionsReply.statusCode, 200)
  t.equal(optionsReply.headers['cache-control'], 'no-store')
  const options = optionsReply.json()
  t.match(options, {
    rp: { name: 'Vottery', id: 'localhost' },
    user: { name: 'ada@example.com', displayName: 'Ada Lovelace & Co' },
    authenticatorSelection: { authenticatorAttachment: 'platform', residentKey: 'preferred', userVerification: 'required' },
    attestation: 'none',
    excludeCredentials: [],
  })
  t.same(options.pubKeyCredParams.map((p: { alg: number }) => p.alg), [-8, -7, -257], 'EdDSA, ES256, RS256')
  t.ok(Buffer.from(options.challenge, 'base64url').length >= 32, 'a challenge of at least 256 bits')
  t.equal(Buffer.from(options.user.id, 'base64url').length, 16, 'the user handle is an opaque 16-byte id')

  const again = (await laptop.post('/api/auth/biometric/options', { flowId })).json()
  t.not(again.challenge, options.challenge, 'each call gives a new challenge')
  t.equal(again.user.id, options.user.id, 'for the same user handle')

  const credential = authenticator.createRegistrationResponse(again)
  const reply = await laptop.post('/api/auth/capture-biometric', {
    flowId,
    credential,
    device: { name: 'Work laptop', formFactor: 'laptop', platformAuthenticator: true, fingerprint: 'fp-8c1d2e' },
  })
  t.equal(reply.statusCode, 201, reply.body)
  const body = reply.json()
  t.same(Object.keys(body).sort(), ['accessToken', 'device', 'expiresIn', 'session', 'tokenType', 'user'])
  t.match(body, { tokenType: 'Bearer', expiresIn: 600 })
  t.same(body.user, {
    id: body.user.id,
    sngineUserId: sngineId,
    displayName: 'Ada Lovelace & Co',
    email: 'a***@example.com',
    phone: '+1******2671',
    roles: ['voter'],
    createdAt: body.user.createdAt,
    lastLoginAt: body.user.lastLoginAt,
  })
  t.ok(body.user.lastLoginAt, 'the sign-in is recorded')
  t.match(body.device, {
    name: 'Work laptop',
    type: 'laptop',
    os: 'macOS',
    browser: 'Chrome',
    browserVersion: '126',
    ip: '8.8.8.8',
    location: { country: 'US' },
    current: true,
    hasPasskey: true,
    trusted: false,
  })
  t.same(Object.keys(body.session).sort(), ['expiresAt', 'id'])
  t.ok(Date.parse(body.session.expiresAt) > Date.now() + 6 * 86400_000, 'the session lasts the idle lifetime (7 days)')

  const cookie = (reply.cookies as CookieInfo[]).find((c) => c.name === 'vt_refresh')
  t.ok(cookie, 'vt_refresh is set')
  t.match(cookie, { httpOnly: true, path: '/api/auth', sameSite: 'Strict' })
  t.notOk(cookie!.secure, 'not Secure on plain http in tests')
  t.ok(cookie!.maxAge! > 29 * 86400 && cookie!.maxAge! <= 30 * 86400, 'kept until the absolute end of the session')
  t.match(cookie!.value, /^[A-Za-z0-9_-]{43}$/, '256 random bits')

  const session = signedIn(reply)
  const status = await laptop.get('/api/auth/status', session.headers)
  t.same(status.json(), {
    authenticated: true,
    user: body.user,
    session: { id: body.session.id, deviceId: body.device.id, createdAt: status.json().session.createdAt, lastUsedAt: status.json().session.lastUsedAt, expiresAt: body.session.expiresAt, ip: '8.8.8.8', current: true },
    device: body.device,
  })
  const cookieOnly = await laptop.get('/api/auth/status')
  t.same(cookieOnly.json(), { authenticated: false }, 'status does not read the refresh cookie')
  t.equal((await laptop.get('/api/sessions', session.headers)).statusCode, 200, 'the access token opens the API')

  // The flow is spent: nothing more can be done with it.
  t.equal((await laptop.get(`/api/auth/status?flowId=${flowId}`)).json().code, 'flow_not_found')
  const replay = await laptop.post('/api/auth/capture-biometric', { flowId, credential })
  t.equal(replay.statusCode, 404)
  t.equal(replay.json().code, 'flow_not_found')

  const mail = await rig.smtp.waitForMail(ADA.email, 2)
  t.equal(mail.subject, 'A passkey was added to your Vottery account')
  t.match(mail.text, /added to your Vottery account on Work laptop/)
  const sms = await rig.twilio.waitForMessage(ADA.phone, 2)
  t.match(sms.body, /a passkey was added on Work laptop/)

  const [stored] = await rig.database.query<Record<string, unknown>>(
    'select c.*, d.user_id as device_user from vottery.webauthn_credentials c join vottery.devices d on d.id = c.device_id',
  )
  t.match(stored, {
    user_id: body.user.id,
    device_id: body.device.id,
    device_user: body.user.id,
    credential_id: credential.id,
    user_handle: options.user.id,
    aaguid: 'adce0002-35bc-c60a-648b-0b25f1f05503',
    backup_eligible: false,
    backup_state: false,
    transports: ['internal'],
    disabled_at: null,
  })
  t.equal(Number(stored!.counter), 0)
  const cose = authenticator.getCredential(credential.id)!.publicKey
  t.same(Buffer.from(stored!.public_key as Uint8Array), Buffer.from(cose), 'the COSE public key is kept')
  const [device] = await rig.database.query<Record<string, unknown>>('select * from vottery.devices')
  t.same(device!.declared, { name: 'Work laptop', formFactor: 'laptop', platformAuthenticator: true }, 'declared fields kept beside the derived ones')
  t.match(device!.fingerprint_hash, /^[A-Za-z0-9_-]{43}$/, 'the fingerprint only as a keyed hash')
  t.equal(device!.user_agent, CHROME_MAC)
  const roles = await rig.database.query('select role, granted_by from vottery.user_roles')
  t.same(roles, [{ role: 'voter', granted_by: 'onboarding' }])
})

t.test('step 3 needs both steps, on the device that started the flow, for an account unchanged since', async (t) => {
  const rig = await startRig(t)
  const adaId = await rig.addPerson(ADA)
  const phone = rig.device()
  const flowId = await phone.verifyEmail(ADA.email)

  for (const [url, payload] of [
    ['/api/auth/biometric/options', { flowId }],
    ['/api/auth/capture-biometric', { flowId, credential: new SoftwareAuthenticator().createRegistrationResponse(await localOptions()) }],
  ] as const) {
    const early = await phone.post(url, payload)
    t.equal(early.statusCode, 409, url)
    t.equal(early.json().code, 'steps_incomplete')
  }

  await phone.verifyPhone(flowId, ADA.phone)
  const stranger = rig.device('198.51.100.7')
  const foreign = await stranger.post('/api/auth/biometric/options', { flowId })
  t.equal(foreign.statusCode, 403)
  t.equal(foreign.json().code, 'flow_device_mismatch')
  const unknown = await phone.post('/api/auth/biometric/options', { flowId: 'A'.repeat(43) })
  t.equal(unknown.json().code, 'flow_not_found')
  const extra = await phone.post('/api/auth/biometric/options', { flowId, userId: 1 })
  t.match(extra.json(), { code: 'validation_failed', details: { field: 'body.userId' } })
  const badDevice = await phone.post('/api/auth/capture-biometric', {
    flowId, credential: new SoftwareAuthenticator().createRegistrationResponse(await localOptions()), device: { formFactor: 'watch' },
  })
  t.match(badDevice.json(), { code: 'validation_failed' })

  // The phone changes on Sngine between step 2 and step 3: what the flow proved no longer holds.
  await rig.database.query('update public.users set user_phone = $1 where user_id = $2', ['+14155559999', adaId])
  const changed = await phone.post('/api/auth/biometric/options', { flowId })
  t.equal(changed.statusCode, 404)
  t.equal(changed.json().code, 'flow_not_found')
  await rig.database.query('update public.users set user_phone = $1, user_banned = $2 where user_id = $3', [ADA.phone, '1', adaId])
  t.equal((await phone.post('/api/auth/biometric/options', { flowId })).json().code, 'flow_not_found', 'banned since')
  await rig.database.query('update public.users set user_banned = $1 where user_id = $2', ['0', adaId])
  const ok = await phone.captureBiometric(flowId, new SoftwareAuthenticator())
  t.equal(ok.statusCode, 201, 'the same flow completes once the account is as proven again')
  t.equal((await rig.database.query('select 1 from vottery.users')).length, 1)
})

t.test('every failed verification spends its challenge; the flow survives until a success', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const authenticator = new SoftwareAuthenticator()
  const flowId = await phone.verifyEmail(ADA.email)
  await phone.verifyPhone(flowId, ADA.phone)
  const fresh = async () => (await phone.post('/api/auth/biometric/options', { flowId })).json()
  const capture = (credential: unknown) => phone.post('/api/auth/capture-biometric', { flowId, credential })

  let options = await fresh()
  const noUv = await capture(authenticator.createRegistrationResponse(options, { userVerified: false }))
  t.equal(noUv.statusCode, 400)
  t.equal(noUv.json().code, 'user_verification_required')
  const sameChallenge = await capture(authenticator.createRegistrationResponse(options))
  t.equal(sameChallenge.statusCode, 400)
  t.equal(sameChallenge.json().code, 'biometric_verification_failed', 'the challenge died with the failed attempt')

  const failures: [string, (o: never) => unknown][] = [
    ['wrong origin', (o) => authenticator.createRegistrationResponse(o, { origin: 'https://evil.example' })],
    ['wrong RP id', (o) => authenticator.createRegistrationResponse(o, { rpId: 'evil.example' })],
    ['no user presence', (o) => authenticator.createRegistrationResponse(o, { userPresent: false })],
    ['forged attestation signature', (o) => authenticator.createRegistrationResponse(o, { tamper: 'signature' })],
    ['client data changed after signing', (o) => authenticator.createRegistrationResponse(o, { tamper: 'clientData' })],
    ['an assertion instead of an attestation', (o) => authenticator.createRegistrationResponse(o, { type: 'webauthn.get' })],
    ['a challenge the server never gave', (o) => authenticator.createRegistrationResponse(o, { challenge: 'bm90LWEtY2hhbGxlbmdlLXdlLWdhdmU' })],
    ['unreadable client data', (o) => ({ ...authenticator.createRegistrationResponse(o), response: { ...authenticator.createRegistrationResponse(o).response, clientDataJSON: 'not-json' } })],
    ['garbage attestation object', (o) => ({ ...authenticator.createRegistrationResponse(o), response: { ...authenticator.createRegistrationResponse(o).response, attestationObject: 'AAAA' } })],
    ['a credential type that is not public-key', (o) => authenticator.createRegistrationResponse(o, { credentialType: 'password' })],
  ]
  for (const [name, make] of failures) {
    options = await fresh()
    const response = make(options as never)
    const refused = await capture(response)
    t.equal(refused.statusCode, 400, name)
    t.equal(refused.json().code, 'biometric_verification_failed', name)
  }

  // Two outstanding challenges: an attempt on one spends both.
  const first = await fresh()
  const second = await fresh()
  t.equal((await capture(authenticator.createRegistrationResponse(first, { userVerified: false }))).json().code, 'user_verification_required')
  t.equal((await capture(authenticator.createRegistrationResponse(second))).json().code, 'biometric_verification_failed')

  // A challenge handed out for another flow of the same device is no good here either.
  const otherFlow = await phone.verifyEmail(ADA.email)
  await phone.verifyPhone(otherFlow, ADA.phone)
  const borrowed = (await phone.post('/api/auth/biometric/options', { flowId: otherFlow })).json()
  t.equal((await capture(authenticator.createRegistrationResponse(borrowed))).json().code, 'biometric_verification_failed')

  t.equal((await rig.database.query('select 1 from vottery.users')).length, 0, 'no user was created by any failure')
  t.equal((await rig.database.query('select 1 from vottery.webauthn_credentials')).length, 0)
  const success = await phone.captureBiometric(flowId, authenticator)
  t.equal(success.statusCode, 201, 'fresh options still work in the same flow')
})

t.test('the same person on a second device: their passkeys are excluded, a known credential id is refused', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const laptopKey = new SoftwareAuthenticator()
  const first = await laptop.onboard(ADA, laptopKey)
  await rig.smtp.waitForMail(ADA.email, 2)
  const [registered] = laptopKey.listCredentials()

  const iphone = rig.device('1.1.1.1', SAFARI_IPHONE)
  const flowId = await iphone.verifyEmail(ADA.email)
  await iphone.verifyPhone(flowId, ADA.phone)
  const options = (await iphone.post('/api/auth/biometric/options', { flowId })).json()
  t.same(options.excludeCredentials, [{ id: registered!.id, type: 'public-key', transports: ['internal'] }])
  t.equal(options.user.id, registered!.userHandle, 'the same user handle as the first passkey')
  t.throws(() => laptopKey.createRegistrationResponse(options), { name: 'InvalidStateError' }, 'a browser holding an excluded passkey refuses')

  const known = await iphone.post('/api/auth/capture-biometric', {
    flowId,
    credential: laptopKey.createRegistrationResponse(options, { credentialId: registered!.id }),
  })
  t.equal(known.statusCode, 409)
  t.equal(known.json().code, 'credential_exists')

  // Bob cannot take Ada's credential id either.
  const bobPhone = rig.device('9.9.9.9')
  const bobFlow = await bobPhone.verifyEmail(BOB.email)
  await bobPhone.verifyPhone(bobFlow, BOB.phone)
  const bobOptions = (await bobPhone.post('/api/auth/biometric/options', { flowId: bobFlow })).json()
  const stolen = await bobPhone.post('/api/auth/capture-biometric', {
    flowId: bobFlow,
    credential: laptopKey.createRegistrationResponse(bobOptions, { credentialId: registered!.id }),
  })
  t.equal(stolen.json().code, 'credential_exists')

  const phoneKey = new SoftwareAuthenticator({ backupEligible: true, backupState: true })
  const second = await iphone.captureBiometric(flowId, phoneKey, { device: { formFactor: 'mobile' } })
  t.equal(second.statusCode, 201, second.body)
  const body = second.json()
  t.equal(body.user.id, first.userId, 'the same Vottery user')
  t.not(body.device.id, first.deviceId, 'another device')
  t.match(body.device, { type: 'mobile', os: 'iOS', browser: 'Safari', name: 'Safari on iOS', location: { country: 'AU' } })
  const rows = await rig.database.query<{ backup_eligible: boolean; backup_state: boolean }>(
    'select backup_eligible, backup_state from vottery.webauthn_credentials order by created_at',
  )
  t.same(rows, [{ backup_eligible: false, backup_state: false }, { backup_eligible: true, backup_state: true }], 'backup flags as registered')
  t.equal((await rig.database.query('select 1 from vottery.users')).length, 1)
  t.equal((await rig.database.query('select 1 from vottery.sessions')).length, 2)
  await rig.smtp.waitForMail(ADA.email, 4)
  t.match(rig.smtp.mails.at(-1)!.text, /on Safari on iOS/)
})

t.test('parallel captures of one flow: one session at most', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const flowId = await phone.verifyEmail(ADA.email)
  await phone.verifyPhone(flowId, ADA.phone)
  const keys = [new SoftwareAuthenticator(), new SoftwareAuthenticator(), new SoftwareAuthenticator()]
  const credentials = []
  for (const key of keys) credentials.push(key.createRegistrationResponse((await phone.post('/api/auth/biometric/options', { flowId })).json()))
  const replies = await Promise.all(credentials.map((credential) => phone.post('/api/auth/capture-biometric', { flowId, credential })))
  t.equal(replies.filter((r) => r.statusCode === 201).length, 1, replies.map((r) => r.body).join('\n'))
  t.equal((await rig.database.query('select 1 from vottery.sessions')).length, 1)
  t.equal((await rig.database.query('select 1 from vottery.webauthn_credentials')).length, 1)
})

t.test('a notice that cannot be delivered does not undo the sign-in', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()
  const flowId = await phone.verifyEmail(ADA.email)
  await phone.verifyPhone(flowId, ADA.phone)
  await rig.smtp.setMode('refuse-data')
  rig.twilio.setMode('error-500')
  const reply = await phone.captureBiometric(flowId, new SoftwareAuthenticator())
  t.equal(reply.statusCode, 201)
  await rig.app.close()
  t.ok(rig.logs.some((line) => line.includes('passkey notice not delivered') && line.includes('"channel":"email"')), 'the mail failure is logged')
  t.ok(rig.logs.some((line) => line.includes('passkey notice not delivered') && line.includes('"channel":"sms"')), 'the SMS failure is logged')
})

t.test('nothing sensitive at rest or in the log', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'Ada.Secret@Example.com', phone: '(415) 555-2671' })
  const phone = rig.device('8.8.8.8', CHROME_MAC)
  const session = await phone.onboard({ email: 'ada.secret@example.com', phone: '+14155552671' }, new SoftwareAuthenticator(), { fingerprint: 'fingerprint-1f2e3d4c' })
  const firstRefresh = phone.refreshToken!
  t.equal((await phone.refresh()).statusCode, 200)
  await rig.smtp.waitForMail('ada.secret@example.com', 2)
  await rig.app.close()

  const deviceCookie = phone.cookies.get('vt_device')!
  const dump = JSON.stringify(await Promise.all(
    ['users', 'user_roles', 'audit_events', 'webauthn_credentials', 'webauthn_challenges', 'devices', 'sessions', 'refresh_tokens', 'verification_flows', 'otp_codes']
      .map((table) => rig.database.query(`select * from vottery.${table}`)),
  )).toLowerCase()
  const secrets = {
    email: 'ada.secret@example.com',
    'local part': 'ada.secret',
    phone: '4155552671',
    'first refresh token': firstRefresh,
    'current refresh token': phone.refreshToken!,
    'device cookie': deviceCookie,
    'access token': session.accessToken,
    fingerprint: 'fingerprint-1f2e3d4c',
  }
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(dump.includes(secret.toLowerCase()), `no ${name} in the tables`)
    t.notOk(rig.logs.some((line) => line.toLowerCase().includes(secret.toLowerCase())), `no ${name} in the log`)
  }
  t.ok(dump.includes('"email_hmac"') && dump.includes('"email_enc"'), 'the dump did read the users table')
})

async function localOptions() {
  return generateRegistrationOptions({ rpName: 'Vottery', rpID: 'localhost', userName: 'someone' })
}
