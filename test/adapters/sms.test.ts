import t, { type Test } from 'tap'
import { createSmsGateway, type SmsGateway } from '../../src/adapters/sms.js'
import { isApiError, SmsDeliveryFailed, SmsRejected } from '../../src/errors.js'
import { otpSms } from '../../src/modules/auth/messages.js'
import { testConfig } from '../helper.js'
import { captureLogs } from '../fixtures/logs.js'
import { startFakeTwilio, type FakeTwilio } from '../fixtures/twilio.js'

type Tap = Test
const PHONE = '+14155552671'
const SENDER = '+15005550006'

function twilioEnv(fake: FakeTwilio, env: Record<string, string> = {}): Record<string, string> {
  return {
    SMS_TRANSPORT: 'twilio',
    TWILIO_ACCOUNT_SID: fake.accountSid,
    TWILIO_AUTH_TOKEN: fake.authToken,
    TWILIO_FROM: SENDER,
    TWILIO_API_BASE_URL: fake.baseUrl,
    SMS_TIMEOUT_MS: '400',
    ...env,
  }
}

async function setup(t: Tap, env: (fake: FakeTwilio) => Record<string, string> = (fake) => twilioEnv(fake)) {
  const twilio = await startFakeTwilio(t)
  const logs = captureLogs()
  const config = testConfig(env(twilio))
  const sms = createSmsGateway(config.sms, logs.logger)
  t.teardown(() => sms.close())
  return { twilio, logs, sms }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => new Error('resolved where a rejection was expected'), (e: unknown) => e)
}

function expectDeliveryFailed(t: Tap, error: unknown) {
  t.ok(error instanceof SmsDeliveryFailed, 'SmsDeliveryFailed')
  t.ok(isApiError(error) && error.statusCode === 503 && error.apiCode === 'sms_delivery_failed', 'a 503 sms_delivery_failed')
  t.ok(isApiError(error) && (error.retryAfter ?? 0) > 0, 'with a Retry-After')
}

function assertClean(t: Tap, lines: string[], secrets: string[]) {
  const all = lines.join('\n')
  for (const secret of secrets) t.notOk(all.includes(secret), `the log never shows ${secret.slice(0, 4)}…`)
  // Numbers in other spellings must not leak either (Twilio echoes them in its messages).
  t.notOk(/4155552671/.test(all), 'nor the national number')
}

t.test('Messages API from a number: the real SDK reaches the fake with auth, To, From and Body', async (t) => {
  const { twilio, sms } = await setup(t)
  t.equal(sms.mode, 'message')
  t.equal(sms.canSendMessages, true)
  const body = otpSms({ code: '583920', ttlSeconds: 600 })
  await sms.sendMessage(PHONE, body)
  const message = await twilio.waitForMessage(PHONE)
  t.match(message, { kind: 'message', to: PHONE, from: SENDER, body, messagingServiceSid: undefined })
  t.match(message.sid, /^SM[0-9a-f]{32}$/)
  t.equal(twilio.lastCode(PHONE), '583920', 'the code is the first 6-digit number')
  t.ok(body.startsWith('583920'), 'and the very start of the text')
})

t.test('Messages API through a messaging service', async (t) => {
  const { twilio, sms } = await setup(t, (fake) => twilioEnv(fake, { TWILIO_FROM: '', TWILIO_MESSAGING_SERVICE_SID: fake.messagingServiceSid }))
  await sms.sendMessage(PHONE, 'hello')
  t.match(await twilio.waitForMessage(PHONE), { to: PHONE, from: undefined, messagingServiceSid: twilio.messagingServiceSid, body: 'hello' })
})

t.test('Verify: Twilio makes the code, we start and check it', async (t) => {
  const { twilio, sms, logs } = await setup(t, (fake) => twilioEnv(fake, {
    SMS_TRANSPORT: 'twilio-verify', TWILIO_FROM: '', TWILIO_VERIFY_SERVICE_SID: fake.verifyServiceSid,
  }))
  t.equal(sms.mode, 'verify')
  t.equal(sms.canSendMessages, false, 'no sender configured: notices cannot go out')
  await t.rejects(sms.sendMessage(PHONE, 'notice'), /cannot send messages/)

  await sms.startVerification(PHONE)
  const sent = await twilio.waitForMessage(PHONE)
  t.equal(sent.kind, 'verification')
  const code = twilio.lastCode(PHONE)!
  const wrong = code === '000000' ? '000001' : '000000'
  t.equal(await sms.checkVerification(PHONE, wrong), 'rejected', 'a wrong code is rejected')
  t.equal(await sms.checkVerification(PHONE, code), 'approved', 'the right one is approved')
  t.equal(await sms.checkVerification(PHONE, code), 'rejected', 'and cannot be used twice (Twilio answers 404)')
  t.equal(await sms.checkVerification('+14155550000', '123456'), 'rejected', 'a phone with no verification is rejected')

  await sms.startVerification(PHONE)
  const again = twilio.lastCode(PHONE)!
  for (let i = 0; i < 5; i++) await sms.checkVerification(PHONE, again === '000000' ? '000001' : '000000')
  t.equal(await sms.checkVerification(PHONE, again), 'rejected', 'after Twilio\'s check limit (60202) even the right code is rejected')
  assertClean(t, logs.lines, [PHONE, code, twilio.authToken])
})

t.test('Verify with a sender configured can also send notices', async (t) => {
  const { twilio, sms } = await setup(t, (fake) => twilioEnv(fake, { SMS_TRANSPORT: 'twilio-verify', TWILIO_VERIFY_SERVICE_SID: fake.verifyServiceSid }))
  t.equal(sms.canSendMessages, true)
  await sms.sendMessage(PHONE, 'Vottery: a passkey was added')
  t.match(await twilio.waitForMessage(PHONE), { kind: 'message', from: SENDER })
})

t.test('a message-mode gateway refuses verification calls', async (t) => {
  const { sms, twilio } = await setup(t)
  await t.rejects(sms.startVerification(PHONE), /not in verify mode/)
  await t.rejects(sms.checkVerification(PHONE, '123456'), /not in verify mode/)
  t.equal(twilio.requests, 0, 'nothing reached Twilio')
})

t.test('Twilio 500 is SmsDeliveryFailed, for messages and for Verify', async (t) => {
  const { twilio, sms, logs } = await setup(t, (fake) => twilioEnv(fake, { TWILIO_VERIFY_SERVICE_SID: fake.verifyServiceSid }))
  twilio.setMode('error-500')
  expectDeliveryFailed(t, await caught(sms.sendMessage(PHONE, otpSms({ code: '302010', ttlSeconds: 600 }))))
  const warning = logs.entries().find((e) => e.msg === 'sms not delivered')
  t.match(warning, { level: 40, smsError: { operation: 'messages.create', status: 500, twilioCode: 20500 } })
  assertClean(t, logs.lines, [PHONE, '302010', twilio.authToken])

  const verify = createSmsGateway(testConfig(twilioEnv(twilio, { SMS_TRANSPORT: 'twilio-verify', TWILIO_VERIFY_SERVICE_SID: twilio.verifyServiceSid })).sms, logs.logger)
  t.teardown(() => verify.close())
  expectDeliveryFailed(t, await caught(verify.startVerification(PHONE)))
  expectDeliveryFailed(t, await caught(verify.checkVerification(PHONE, '302010')))
})

t.test('a Twilio that never answers is SmsDeliveryFailed within about SMS_TIMEOUT_MS', async (t) => {
  const { twilio, sms, logs } = await setup(t, (fake) => twilioEnv(fake, { SMS_TIMEOUT_MS: '300' }))
  twilio.setMode('hang')
  const started = Date.now()
  expectDeliveryFailed(t, await caught(sms.sendMessage(PHONE, otpSms({ code: '717171', ttlSeconds: 600 }))))
  // Loose on purpose: the SDK's own default is 30 s, so this only proves SMS_TIMEOUT_MS reached it.
  t.ok(Date.now() - started < 10_000, 'gives up long before the SDK default would')
  t.equal(twilio.requests, 1, 'the request did reach the fake')
  t.match(logs.entries().find((e) => e.msg === 'sms not delivered'), { smsError: { errorCode: 'ECONNABORTED' } })
  assertClean(t, logs.lines, [PHONE, '717171', twilio.authToken])
})

t.test('nothing listening is SmsDeliveryFailed', async (t) => {
  const { twilio, sms, logs } = await setup(t)
  await twilio.close()
  expectDeliveryFailed(t, await caught(sms.sendMessage(PHONE, 'hello')))
  t.match(logs.entries().find((e) => e.msg === 'sms not delivered'), { smsError: { errorCode: 'ECONNREFUSED' } })
})

t.test('a number Twilio refuses (21211, Verify 60200) is SmsRejected: 400 invalid_phone, not a retry', async (t) => {
  const { twilio, sms, logs } = await setup(t, (fake) => twilioEnv(fake, { TWILIO_VERIFY_SERVICE_SID: fake.verifyServiceSid }))
  twilio.setMode('invalid-number')
  const error = await caught(sms.sendMessage(PHONE, otpSms({ code: '616161', ttlSeconds: 600 })))
  t.ok(error instanceof SmsRejected, 'SmsRejected')
  t.notOk(error instanceof SmsDeliveryFailed)
  t.ok(isApiError(error) && error.statusCode === 400 && error.apiCode === 'invalid_phone', '400 invalid_phone')
  t.ok(isApiError(error) && error.retryAfter === undefined, 'no Retry-After: trying again will not help')
  t.same(isApiError(error) && error.details, { reason: 'invalid_number' })
  t.match(logs.entries().find((e) => e.msg === 'sms provider refused the number'), { level: 30, smsError: { status: 400, twilioCode: 21211 } })

  const verify = createSmsGateway(testConfig(twilioEnv(twilio, { SMS_TRANSPORT: 'twilio-verify', TWILIO_VERIFY_SERVICE_SID: twilio.verifyServiceSid })).sms, logs.logger)
  t.teardown(() => verify.close())
  t.ok(await caught(verify.startVerification(PHONE)) instanceof SmsRejected, 'Verify\'s 60200 too')
  // Twilio's own message quotes the number; it must not reach our log.
  assertClean(t, logs.lines, [PHONE, '616161', twilio.authToken])
})

t.test('wrong credentials are SmsDeliveryFailed for the client and an error for the operator', async (t) => {
  const { sms, logs, twilio } = await setup(t, (fake) => twilioEnv(fake, { TWILIO_AUTH_TOKEN: 'not-the-token' }))
  expectDeliveryFailed(t, await caught(sms.sendMessage(PHONE, 'hello')))
  t.match(logs.entries().find((e) => e.level === 50), { smsError: { status: 401, twilioCode: 20003 } })
  assertClean(t, logs.lines, [PHONE, 'not-the-token', twilio.authToken])
})

t.test('the log transport writes the text at warn, phone masked', async (t) => {
  const logs = captureLogs()
  const sms: SmsGateway = createSmsGateway(testConfig({ SMS_TRANSPORT: 'log' }).sms, logs.logger)
  t.equal(sms.mode, 'message')
  await sms.sendMessage(PHONE, otpSms({ code: '135790', ttlSeconds: 600 }))
  await sms.close()
  const [entry] = logs.entries()
  t.equal(entry?.level, 40)
  t.match(entry, { devMessage: { to: '+1******2671', body: /^135790 is your Vottery code/ } })
  t.notOk(logs.lines.join('\n').includes(PHONE), 'the phone is masked')
  await t.rejects(sms.startVerification(PHONE), /not in verify mode/)
})
