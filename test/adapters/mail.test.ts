import t, { type Test } from 'tap'
import { createMailer, type Mailer } from '../../src/adapters/mail.js'
import { DeliveryFailed, isApiError } from '../../src/errors.js'
import { otpMail } from '../../src/modules/auth/messages.js'
import { testConfig } from '../helper.js'
import { captureLogs } from '../fixtures/logs.js'
import { SMTP_PASSWORD, SMTP_USER, startFakeSmtp } from '../fixtures/smtp.js'

type Tap = Test
const FROM = 'Vottery <no-reply@vottery.test>'

async function smtpSetup(t: Tap, env: Record<string, string> = {}) {
  const smtp = await startFakeSmtp(t)
  const logs = captureLogs()
  const config = testConfig({ MAIL_TRANSPORT: 'smtp', SMTP_URL: smtp.url, MAIL_FROM: FROM, SMTP_TIMEOUT_MS: '400', ...env })
  const mailer = createMailer(config.mail, logs.logger)
  t.teardown(() => mailer.close())
  return { smtp, logs, mailer }
}

async function expectDeliveryFailed(t: Tap, promise: Promise<unknown>) {
  const error = await promise.then(() => null, (e: unknown) => e)
  t.ok(error instanceof DeliveryFailed, 'rejects with DeliveryFailed')
  t.ok(isApiError(error) && error.statusCode === 503 && error.apiCode === 'delivery_failed', 'a 503 delivery_failed')
  t.ok(isApiError(error) && (error.retryAfter ?? 0) > 0, 'with a Retry-After')
}

function assertClean(t: Tap, lines: string[], secrets: string[]) {
  const all = lines.join('\n')
  for (const secret of secrets) t.notOk(all.includes(secret), `the log never shows ${secret.slice(0, 3)}…`)
}

t.test('an OTP mail goes through the SMTP server with sender, recipient, subject, text and html', async (t) => {
  const { smtp, mailer } = await smtpSetup(t)
  const content = otpMail({ code: '482915', ttlSeconds: 600 })
  await mailer.send({ to: 'Ada@Example.test', ...content })

  const mail = await smtp.waitForMail('ada@example.test')
  t.equal(mail.envelopeFrom, 'no-reply@vottery.test')
  t.same(mail.envelopeTo, ['ada@example.test'])
  t.match(mail.from, /^"?Vottery"? <no-reply@vottery\.test>$/, 'From header is MAIL_FROM')
  t.equal(mail.to.toLowerCase(), 'ada@example.test')
  t.equal(mail.subject, '482915 is your Vottery code')
  t.equal(mail.text.trim(), content.text.trim())
  t.equal(mail.html.trim(), content.html.trim())
  t.equal(smtp.lastCode('ada@example.test'), '482915', 'the code is the first 6-digit number of the text')
  t.equal(mail.subject.match(/\d{6}/)?.[0], '482915', 'and of the subject')
  t.equal(mail.user, SMTP_USER, 'credentials of SMTP_URL are used')
})

t.test('the pooled transport reuses one connection for several mails', async (t) => {
  const { smtp, mailer } = await smtpSetup(t, { SMTP_TIMEOUT_MS: '5000' })
  for (const code of ['111111', '222222', '333333']) {
    await mailer.send({ to: 'pool@example.test', ...otpMail({ code, ttlSeconds: 600 }) })
  }
  await smtp.waitForMail('pool@example.test', 3)
  t.equal(smtp.mails.length, 3)
  t.equal(smtp.connections, 1, 'three mails, one SMTP connection')
  t.equal(smtp.lastCode('pool@example.test'), '333333')
})

t.test('a refusal at RCPT or after DATA is DeliveryFailed, logged without the recipient', async (t) => {
  const { smtp, mailer, logs } = await smtpSetup(t)
  const message = { to: 'refused@example.test', ...otpMail({ code: '735104', ttlSeconds: 600 }) }

  await smtp.setMode('refuse-rcpt', 550)
  await expectDeliveryFailed(t, mailer.send(message))
  await smtp.setMode('refuse-data', 451)
  await expectDeliveryFailed(t, mailer.send(message))
  t.equal(smtp.mails.length, 0)

  const warnings = logs.entries().filter((e) => e.msg === 'mail not delivered')
  t.equal(warnings.length, 2, 'each failure is logged once')
  t.ok(warnings.every((e) => e.level === 40), 'at warn')
  t.match(warnings[0], { mailError: { code: 'EENVELOPE', responseCode: 550 } })
  t.match(warnings[1], { mailError: { responseCode: 451 } })
  assertClean(t, logs.lines, ['refused@example.test', '735104', SMTP_PASSWORD])

  await smtp.setMode('ok')
  await mailer.send(message)
  t.equal((await smtp.waitForMail('refused@example.test')).subject, '735104 is your Vottery code', 'the same mailer recovers')
})

t.test('a server that never greets is DeliveryFailed within about SMTP_TIMEOUT_MS', async (t) => {
  const { smtp, mailer, logs } = await smtpSetup(t, { SMTP_TIMEOUT_MS: '300' })
  await smtp.setMode('hang')
  const started = Date.now()
  await expectDeliveryFailed(t, mailer.send({ to: 'slow@example.test', ...otpMail({ code: '901234', ttlSeconds: 600 }) }))
  // The bound is loose on purpose; it only proves the timeouts reached nodemailer (its default greeting wait is 30 s).
  t.ok(Date.now() - started < 10_000, 'gives up long before nodemailer\'s defaults would')
  t.ok(smtp.connections >= 1, 'the connection was made, the greeting never came')
  t.match(logs.entries().find((e) => e.msg === 'mail not delivered'), { mailError: { code: 'ETIMEDOUT' } })
  assertClean(t, logs.lines, ['slow@example.test', '901234', SMTP_PASSWORD])
})

t.test('a server that is down is DeliveryFailed', async (t) => {
  const { smtp, mailer, logs } = await smtpSetup(t)
  await mailer.send({ to: 'first@example.test', ...otpMail({ code: '123123', ttlSeconds: 600 }) })
  await smtp.setMode('down')
  await expectDeliveryFailed(t, mailer.send({ to: 'second@example.test', ...otpMail({ code: '456456', ttlSeconds: 600 }) }))
  t.match(logs.entries().find((e) => e.msg === 'mail not delivered'), { mailError: { code: /^(ESOCKET|ECONNECTION)$/ } })
  assertClean(t, logs.lines, ['second@example.test', '456456', SMTP_PASSWORD])

  await smtp.setMode('ok')
  await mailer.send({ to: 'third@example.test', ...otpMail({ code: '789789', ttlSeconds: 600 }) })
  t.equal(smtp.lastCode('third@example.test'), '789789', 'back up, mail flows again')
})

t.test('the log transport writes the mail to the log at warn, recipient masked', async (t) => {
  const logs = captureLogs()
  const config = testConfig({ MAIL_TRANSPORT: 'log' })
  const mailer: Mailer = createMailer(config.mail, logs.logger)
  await mailer.send({ to: 'dev@example.test', ...otpMail({ code: '246810', ttlSeconds: 300 }) })
  await mailer.close()
  const [entry] = logs.entries()
  t.equal(entry?.level, 40)
  t.match(entry, { devMessage: { to: 'd***@example.test', subject: '246810 is your Vottery code' } })
  t.match((entry?.devMessage as { text: string }).text, /^246810 is your Vottery verification code\./)
  t.match((entry?.devMessage as { text: string }).text, /expires in 5 minutes/)
  assertClean(t, logs.lines, ['dev@example.test'])
})

t.test('configuration refuses the log transport in production', async (t) => {
  t.throws(() => testConfig({ NODE_ENV: 'production', MAIL_TRANSPORT: 'log', DATABASE_URL: 'postgres://x/y' }), /MAIL_TRANSPORT=log/)
})
