import t from 'tap'
import { startRig } from '../../fixtures/onboarding.js'

t.test('decoys: unknown, inactive and banned accounts look the same and never verify', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'real@example.com', phone: '+14155552671' })
  await rig.addPerson({ email: 'sleeper@example.com', activated: '0' })
  await rig.addPerson({ email: 'banned@example.com', banned: '1' })
  const shapes: string[] = []
  for (const email of ['real@example.com', 'nobody@example.com', 'sleeper@example.com', 'banned@example.com']) {
    const device = rig.device()
    const reply = await device.post('/api/auth/send-otp', { channel: 'email', email })
    t.equal(reply.statusCode, 202, `${email}: 202`)
    const body = reply.json()
    shapes.push(JSON.stringify({ ...body, flowId: body.flowId.length, destination: body.destination.replace(/^./, 'x') }))
    if (email === 'real@example.com') continue
    const verify = await device.post('/api/auth/verify-otp', { flowId: body.flowId, channel: 'email', code: '123456' })
    t.equal(verify.statusCode, 400, `${email}: a decoy answers like a wrong code`)
    t.match(verify.json(), { code: 'invalid_code', details: { attemptsLeft: 4 } })
    const status = await device.get(`/api/auth/status?flowId=${body.flowId}`)
    t.match(status.json().flow, { verified: { email: false, phone: false }, next: 'email' })
    const sms = await device.post('/api/auth/send-otp', { channel: 'sms', flowId: body.flowId, phone: '+14155552671' })
    t.equal(sms.json().code, 'email_not_verified')
  }
  t.equal(new Set(shapes).size, 1, 'every reply has the same shape')
  t.same(rig.smtp.mails.map((m) => m.to), ['real@example.com'], 'only the real account got a mail')
})

t.test('an unknown address may get a sign-up notice, with no code in it', async (t) => {
  const rig = await startRig(t, { env: { MAIL_UNKNOWN_ACCOUNT_NOTICE: 'true', SNGINE_SIGNUP_URL: 'https://social.example/signup' } })
  const reply = await rig.device().post('/api/auth/send-otp', { channel: 'email', email: 'new@example.com' })
  t.equal(reply.statusCode, 202)
  const mail = await rig.smtp.waitForMail('new@example.com')
  t.match(mail.text, /social\.example\/signup/)
  t.notMatch(`${mail.subject} ${mail.text}`, /\d{6}/)
})

t.test('hourly caps per destination and per address, before anything is sent', async (t) => {
  const rig = await startRig(t, { env: { OTP_SENDS_PER_DESTINATION_PER_HOUR: '2', OTP_SENDS_PER_IP_PER_HOUR: '4' } })
  await rig.addPerson({ email: 'ada@example.com' })
  for (let i = 0; i < 2; i++) {
    t.equal((await rig.device('192.0.2.1').post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).statusCode, 202)
  }
  const capped = await rig.device('192.0.2.2').post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(capped.statusCode, 429)
  t.equal(capped.json().code, 'otp_send_limit')
  t.ok(Number(capped.headers['retry-after']) > 0)
  t.equal(rig.smtp.mails.length, 2, 'the capped request sent nothing')

  const ip = '192.0.2.3'
  for (let i = 0; i < 4; i++) {
    t.equal((await rig.device(ip).post('/api/auth/send-otp', { channel: 'email', email: `someone${i}@example.com` })).statusCode, 202)
  }
  const ipCapped = await rig.device(ip).post('/api/auth/send-otp', { channel: 'email', email: 'ada2@example.com' })
  t.equal(ipCapped.json().code, 'otp_send_limit', 'decoy sends count against the address too')
})

t.test('a burst of parallel sends cannot slip past the cap', async (t) => {
  const rig = await startRig(t, { env: { OTP_SENDS_PER_DESTINATION_PER_HOUR: '3' } })
  await rig.addPerson({ email: 'ada@example.com' })
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    rig.device(`198.51.100.${i + 1}`).post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })))
  const codes = replies.map((r) => r.statusCode).sort()
  t.same(codes, [202, 202, 202, 429, 429, 429, 429, 429, 429, 429])
  t.equal(rig.smtp.mails.length, 3)
})

t.test('races: the right code twice in parallel wins once; parallel wrong guesses stop at the cap', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'ada@example.com' })
  const phone = rig.device()
  const { flowId } = (await phone.post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).json()
  const code = rig.smtp.lastCode('ada@example.com')!
  const both = await Promise.all([0, 1, 2].map(() => phone.post('/api/auth/verify-otp', { flowId, channel: 'email', code })))
  t.same(both.map((r) => r.statusCode).filter((s) => s === 200), [200], 'exactly one success')

  const other = rig.device()
  const second = (await other.post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).json().flowId
  const right = rig.smtp.lastCode('ada@example.com')!
  const wrong = right === '000000' ? '111111' : '000000'
  const guesses = await Promise.all(Array.from({ length: 12 }, () =>
    other.post('/api/auth/verify-otp', { flowId: second, channel: 'email', code: wrong })))
  const invalid = guesses.filter((r) => r.json().code === 'invalid_code').length
  const limited = guesses.filter((r) => r.json().code === 'too_many_attempts').length
  t.equal(invalid, 5, 'five wrong guesses counted')
  t.equal(limited, 7, 'the rest refused')
  const rows = await rig.database.query<{ failed_attempts: number }>(
    `select c.failed_attempts from vottery.otp_codes c join vottery.verification_flows f on f.id = c.flow_id where f.failed_attempts > 0`)
  t.same(rows.map((r) => Number(r.failed_attempts)), [5], 'the stored count never passed the cap')
})

t.test('provider outages: 503 with Retry-After, the flow intact, no cooldown, a retry works', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'ada@example.com', phone: '+14155552671' })
  const phone = rig.device()
  await rig.smtp.setMode('refuse-rcpt', 451)
  const failed = await phone.post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'delivery_failed')
  t.ok(Number(failed.headers['retry-after']) > 0)
  await rig.smtp.setMode('ok')
  const flowId = await phone.verifyEmail('ada@example.com')
  t.ok(flowId, 'the next try goes through')

  rig.twilio.setMode('error-500')
  const smsFailed = await phone.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: '+14155552671' })
  t.equal(smsFailed.statusCode, 503)
  t.equal(smsFailed.json().code, 'sms_delivery_failed')
  rig.twilio.setMode('ok')
  await phone.verifyPhone(flowId, '+14155552671')
  t.pass('no cooldown was started by the failed send; the retry verified')
})

t.test('a mail server that never greets is a bounded 503, not a hang', async (t) => {
  const rig = await startRig(t, { env: { SMTP_TIMEOUT_MS: '500' } })
  await rig.addPerson({ email: 'ada@example.com' })
  await rig.smtp.setMode('hang')
  const hung = await rig.device().post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(hung.statusCode, 503)
  t.equal(hung.json().code, 'delivery_failed')
  await rig.smtp.setMode('ok')
  t.equal((await rig.device().post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).statusCode, 202,
    'once the server answers again, sending works')
})

t.test('nothing sensitive at rest or in the logs', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'ada.secret@example.com', phone: '+14155559876' })
  const phone = rig.device()
  const flowId = await phone.verifyEmail('ada.secret@example.com')
  await phone.verifyPhone(flowId, '+14155559876')
  const mailCode = rig.smtp.lastCode('ada.secret@example.com')!
  const smsCode = rig.twilio.lastCode('+14155559876')!
  const dump = JSON.stringify([
    ...(await rig.database.query('select * from vottery.verification_flows')),
    ...(await rig.database.query('select * from vottery.otp_codes')),
  ])
  for (const secret of ['ada.secret', '4155559876', mailCode, smsCode, flowId]) {
    t.notOk(dump.includes(secret), `the database holds no clear ${secret === flowId ? 'flowId' : 'value'}`)
  }
  const logs = rig.logs.join('\n')
  for (const secret of ['ada.secret', '4155559876', mailCode, smsCode, flowId]) {
    t.notOk(logs.includes(secret), 'the logs hold none of it either')
  }
})
