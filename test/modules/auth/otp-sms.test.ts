import t from 'tap'
import { startRig } from '../../fixtures/onboarding.js'

t.test('step 2: the SMS goes only to the phone on record, after the email', async (t) => {
  const rig = await startRig(t, { env: { SMS_ALLOWED_COUNTRIES: 'US,GB' } })
  await rig.addPerson({ email: 'ada@example.com', phone: '(415) 555-2671' })
  const phone = rig.device()
  const { flowId } = (await phone.post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).json()

  const early = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+14155552671' })
  t.equal(early.statusCode, 409)
  t.equal(early.json().code, 'email_not_verified')
  const earlyVerify = await phone.post('/api/auth/verify-otp', { flowId, channel: 'sms', code: '123456' })
  t.equal(earlyVerify.json().code, 'email_not_verified')

  await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: rig.smtp.lastCode('ada@example.com') })

  const unreadable = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: 'call me maybe' })
  t.equal(unreadable.statusCode, 400)
  t.equal(unreadable.json().code, 'invalid_phone')
  const other = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+1 415 555 2672' })
  t.equal(other.statusCode, 422)
  t.equal(other.json().code, 'phone_mismatch')
  const missingPhone = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId })
  t.match(missingPhone.json(), { code: 'validation_failed', details: { field: 'body.phone' } })
  t.equal(rig.twilio.requests, 0, 'Twilio was never called for a refused number')

  const sent = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+1 415-555-2671' })
  t.equal(sent.statusCode, 202)
  t.match(sent.json(), { flowId, channel: 'sms', destination: '+1******2671', expiresInSeconds: 600, resendAfterSeconds: 30 })
  const sms = await rig.twilio.waitForMessage('+14155552671')
  t.match(sms.body, /^\d{6} is your Vottery code/)
  t.equal(sms.from, '+15005550006')
  const code = rig.twilio.lastCode('+14155552671')!

  const verified = await phone.post('/api/auth/verify-otp', { flowId, channel: 'sms', code })
  t.equal(verified.statusCode, 200)
  t.same(verified.json(), { flowId, verified: { email: true, phone: true }, next: 'biometric' })
  t.match((await phone.get(`/api/auth/status?flowId=${flowId}`)).json().flow, { next: 'biometric' })
})

t.test('phone not on record, and countries outside the allow-list', async (t) => {
  const rig = await startRig(t, { env: { SMS_ALLOWED_COUNTRIES: 'GB', PHONE_DEFAULT_REGION: 'GB' } })
  await rig.addPerson({ email: 'nophone@example.com', phone: null })
  await rig.addPerson({ email: 'yank@example.com', phone: '+1 415 555 0100' })
  await rig.addPerson({ email: 'brit@example.com', phone: '07700 900123' })

  const a = rig.device()
  const flowA = await a.verifyEmail('nophone@example.com')
  const none = await a.post('/api/auth/send-otp', { channel: 'sms', flowId: flowA, phone: '+447700900123' })
  t.equal(none.statusCode, 422)
  t.equal(none.json().code, 'phone_not_on_record')

  const b = rig.device()
  const flowB = await b.verifyEmail('yank@example.com')
  const blocked = await b.post('/api/auth/send-otp', { channel: 'sms', flowId: flowB, phone: '+14155550100' })
  t.equal(blocked.statusCode, 422)
  t.equal(blocked.json().code, 'phone_country_not_allowed')
  t.equal(rig.twilio.requests, 0)

  const c = rig.device()
  const flowC = await c.verifyEmail('brit@example.com')
  await c.verifyPhone(flowC, '07700 900123', '+447700900123')
  t.pass('a national-format number on both sides normalises with PHONE_DEFAULT_REGION')
})

t.test('Twilio Verify: Twilio makes and checks the code; we count the tries', async (t) => {
  const rig = await startRig(t, { smsMode: 'twilio-verify' })
  await rig.addPerson({ email: 'ada@example.com', phone: '+14155552671' })
  const phone = rig.device()
  const flowId = await phone.verifyEmail('ada@example.com')
  const sent = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+14155552671' })
  t.equal(sent.statusCode, 202)
  const verification = await rig.twilio.waitForMessage('+14155552671')
  t.equal(verification.kind, 'verification')
  const code = rig.twilio.lastCode('+14155552671')!
  const wrong = await phone.post('/api/auth/verify-otp', { flowId, channel: 'sms', code: code === '000000' ? '111111' : '000000' })
  t.match(wrong.json(), { code: 'invalid_code', details: { attemptsLeft: 4 } })
  const ok = await phone.post('/api/auth/verify-otp', { flowId, channel: 'sms', code })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().next, 'biometric')
  const rows = await rig.database.query<{ code_hmac: string | null }>(`select code_hmac from vottery.otp_codes where channel = 'sms'`)
  t.same(rows.map((r) => r.code_hmac), [null], 'no code of ours is stored for a Verify send')
})
