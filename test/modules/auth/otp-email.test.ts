import t from 'tap'
import { startRig } from '../../fixtures/onboarding.js'

const ADA = { email: 'Ada@Example.com', phone: '+14155552671' }

t.test('step 1: the code arrives by mail and verifies once; status follows the flow', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const phone = rig.device()

  const sent = await phone.post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(sent.statusCode, 202)
  const body = sent.json()
  t.same(Object.keys(body).sort(), ['channel', 'destination', 'expiresInSeconds', 'flowId', 'resendAfterSeconds'])
  t.match(body, { channel: 'email', destination: 'a***@example.com', expiresInSeconds: 600, resendAfterSeconds: 30 })
  t.ok(Buffer.from(body.flowId, 'base64url').length >= 16, 'flowId carries at least 128 random bits')

  const cookie = (sent.cookies as { name: string; httpOnly?: boolean; path?: string; sameSite?: string; maxAge?: number }[])
    .find((c) => c.name === 'vt_device')
  t.ok(cookie, 'vt_device is set on first contact')
  t.match(cookie, { httpOnly: true, path: '/', sameSite: 'Strict', maxAge: 400 * 86400 })

  const mail = await rig.smtp.waitForMail('ada@example.com')
  t.match(mail.subject, /^\d{6} is your Vottery code$/)
  const code = rig.smtp.lastCode('ada@example.com')!
  t.match(mail.text, /expires in 10 minutes/)
  t.match(mail.text, /Didn't ask for this\? Ignore/)

  const status = await phone.get(`/api/auth/status?flowId=${body.flowId}`)
  t.match(status.json(), { authenticated: false, flow: { verified: { email: false, phone: false }, next: 'email' } })

  const verified = await phone.post('/api/auth/verify-otp', { flowId: body.flowId, channel: 'email', code })
  t.equal(verified.statusCode, 200)
  t.same(verified.json(), { flowId: body.flowId, verified: { email: true, phone: false }, next: 'sms' })

  const again = await phone.post('/api/auth/verify-otp', { flowId: body.flowId, channel: 'email', code })
  t.equal(again.statusCode, 409, 'a code is single-use')
  t.equal(again.json().code, 'already_verified')

  const after = await phone.get(`/api/auth/status?flowId=${body.flowId}`)
  t.match(after.json().flow, { verified: { email: true, phone: false }, next: 'sms' })
  t.ok(Date.parse(after.json().flow.expiresAt) > Date.now())
})

t.test('wrong codes: attempts left, the code dies after five, the flow after ten', async (t) => {
  const rig = await startRig(t, { env: { OTP_RESEND_COOLDOWN: '1' } })
  await rig.addPerson(ADA)
  const phone = rig.device()
  const { flowId } = (await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email })).json()
  const code = rig.smtp.lastCode('ada@example.com')!
  const wrong = code === '000000' ? '111111' : '000000'

  for (let left = 4; left >= 0; left--) {
    const reply = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: wrong })
    t.equal(reply.statusCode, 400)
    t.match(reply.json(), { code: 'invalid_code', details: { attemptsLeft: left } })
  }
  const dead = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code })
  t.equal(dead.statusCode, 429, 'after five misses even the right code is refused')
  t.equal(dead.json().code, 'too_many_attempts')

  // A new code: the flow's failure count is not reset (5 of 10 spent).
  await new Promise((r) => setTimeout(r, 1100))
  const resent = await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })
  t.equal(resent.statusCode, 202)
  t.equal(resent.json().flowId, flowId, 'a resend keeps the flow')
  const second = rig.smtp.lastCode('ada@example.com')!
  const wrong2 = second === '000000' ? '111111' : '000000'
  for (let left = 4; left >= 0; left--) {
    const reply = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: wrong2 })
    t.match(reply.json(), { code: 'invalid_code', details: { attemptsLeft: left } })
  }
  await new Promise((r) => setTimeout(r, 1100))
  await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })
  const third = rig.smtp.lastCode('ada@example.com')!
  const flowDead = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: third })
  t.equal(flowDead.statusCode, 429, 'ten misses in all kill the flow, whatever code')
  t.equal(flowDead.json().code, 'too_many_attempts')
})

t.test('resend: cooldown with Retry-After, and the old code stops working', async (t) => {
  const rig = await startRig(t, { env: { OTP_RESEND_COOLDOWN: '1' } })
  await rig.addPerson(ADA)
  const phone = rig.device()
  const { flowId } = (await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email })).json()
  const first = rig.smtp.lastCode('ada@example.com')!
  const tooSoon = await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })
  t.equal(tooSoon.statusCode, 429)
  t.equal(tooSoon.json().code, 'otp_resend_too_soon')
  t.equal(tooSoon.headers['retry-after'], '1')
  t.equal(rig.smtp.mails.length, 1, 'nothing was sent')

  await new Promise((r) => setTimeout(r, 1100))
  const resent = await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })
  t.equal(resent.statusCode, 202)
  await rig.smtp.waitForMail('ada@example.com', 2)
  const second = rig.smtp.lastCode('ada@example.com')!
  if (first !== second) {
    const old = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: first })
    t.equal(old.json().code, 'invalid_code', 'the previous code was invalidated by the resend')
  }
  const ok = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code: second })
  t.equal(ok.statusCode, 200)
})

t.test('an expired code answers 410 code_expired', async (t) => {
  const rig = await startRig(t, { env: { OTP_TTL: '1' } })
  await rig.addPerson(ADA)
  const phone = rig.device()
  const { flowId } = (await phone.post('/api/auth/send-otp', { channel: 'email', email: ADA.email })).json()
  const code = rig.smtp.lastCode('ada@example.com')!
  await new Promise((r) => setTimeout(r, 1200))
  const reply = await phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code })
  t.equal(reply.statusCode, 410)
  t.equal(reply.json().code, 'code_expired')
})

t.test('another device cannot use or spend the flow', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const owner = rig.device()
  const thief = rig.device('198.51.100.66')
  const { flowId } = (await owner.post('/api/auth/send-otp', { channel: 'email', email: ADA.email })).json()
  const code = rig.smtp.lastCode('ada@example.com')!
  for (let i = 0; i < 12; i++) {
    const stolen = await thief.post('/api/auth/verify-otp', { flowId, channel: 'email', code: '123456' })
    t.equal(stolen.statusCode, 403)
    t.equal(stolen.json().code, 'flow_device_mismatch')
  }
  t.equal((await thief.get(`/api/auth/status?flowId=${flowId}`)).statusCode, 403)
  t.equal((await thief.post('/api/auth/send-otp', { channel: 'email', email: ADA.email, flowId })).statusCode, 403)
  const ok = await owner.post('/api/auth/verify-otp', { flowId, channel: 'email', code })
  t.equal(ok.statusCode, 200, "the owner's attempts were never spent")
})

t.test('unknown flows and malformed input', async (t) => {
  const rig = await startRig(t)
  const phone = rig.device()
  const unknown = await phone.post('/api/auth/verify-otp', { flowId: 'A'.repeat(43), channel: 'email', code: '123456' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'flow_not_found')
  t.equal((await phone.get(`/api/auth/status?flowId=${'B'.repeat(43)}`)).json().code, 'flow_not_found')
  const noEmail = await phone.post('/api/auth/send-otp', { channel: 'email' })
  t.match(noEmail.json(), { statusCode: 400, code: 'validation_failed', details: { field: 'body.email' } })
  const badEmail = await phone.post('/api/auth/send-otp', { channel: 'email', email: 'not-an-email' })
  t.equal(badEmail.json().code, 'validation_failed')
  const extra = await phone.post('/api/auth/send-otp', { channel: 'email', email: 'a@b.co', admin: true })
  t.equal(extra.json().code, 'validation_failed')
  const shortCode = await phone.post('/api/auth/verify-otp', { flowId: 'A'.repeat(43), channel: 'email', code: '12345' })
  t.equal(shortCode.json().code, 'validation_failed')
  t.equal(rig.smtp.mails.length, 0)
})
