import t from 'tap'
import type { Mailer, MailMessage } from '../../src/adapters/mail.js'
import type { SmsGateway } from '../../src/adapters/sms.js'
import { DeliveryFailed } from '../../src/errors.js'
import { otpMail, otpSms } from '../../src/modules/auth/messages.js'
import { build } from '../helper.js'
import { startFakeSmtp } from '../fixtures/smtp.js'
import { startFakeTwilio } from '../fixtures/twilio.js'

t.test('by default (development, test) both go to the log', async (t) => {
  const { app, logs } = await build(t)
  t.equal(app.sms.mode, 'message')
  await app.mailer.send({ to: 'someone@example.test', ...otpMail({ code: '314159', ttlSeconds: 600 }) })
  await app.sms.sendMessage('+14155552671', otpSms({ code: '265358', ttlSeconds: 600 }))
  const dev = logs.map((line) => JSON.parse(line)).filter((e) => e.devMessage)
  t.equal(dev.length, 2)
  t.match(dev[0], { level: 40, component: 'mail', devMessage: { subject: '314159 is your Vottery code' } })
  t.match(dev[1], { level: 40, component: 'sms', devMessage: { body: /^265358 / } })
})

t.test('configured SMTP and Twilio are used by the app and closed with it', async (t) => {
  const smtp = await startFakeSmtp(t)
  const twilio = await startFakeTwilio(t)
  const { app } = await build(t, {
    env: {
      MAIL_TRANSPORT: 'smtp', SMTP_URL: smtp.url,
      SMS_TRANSPORT: 'twilio', TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken,
      TWILIO_FROM: '+15005550006', TWILIO_API_BASE_URL: twilio.baseUrl,
    },
  })
  await app.mailer.send({ to: 'ops@example.test', ...otpMail({ code: '271828', ttlSeconds: 600 }) })
  t.equal(smtp.lastCode('ops@example.test'), '271828')
  await app.sms.sendMessage('+14155552671', otpSms({ code: '161803', ttlSeconds: 600 }))
  t.equal(twilio.lastCode('+14155552671'), '161803')

  await app.close()
  await t.rejects(app.mailer.send({ to: 'late@example.test', ...otpMail({ code: '141421', ttlSeconds: 600 }) }), DeliveryFailed,
    'the pool was closed with the app')
  t.equal(smtp.mails.length, 1)
})

t.test('injected adapters are used as given and left open for their owner', async (t) => {
  const sent: MailMessage[] = []
  let closed = 0
  const mailer: Mailer = { async send(message) { sent.push(message) }, async close() { closed++ } }
  const sms: SmsGateway = {
    mode: 'verify',
    canSendMessages: false,
    async sendMessage() {},
    async startVerification() {},
    async checkVerification() { return 'approved' },
    async close() { closed++ },
  }
  const { app } = await build(t, { deps: { mailer, sms } })
  t.equal(app.mailer, mailer)
  t.equal(app.sms, sms)
  await app.mailer.send({ to: 'x@example.test', subject: 's', text: 't', html: 'h' })
  t.equal(sent.length, 1)
  await app.close()
  t.equal(closed, 0)
})
