import t from 'tap'
import { startRig } from '../fixtures/onboarding.js'
import { settlesWithin } from '../fixtures/settles.js'

/**
 * Provider outages beside those of test/modules/auth/otp-limits.test.ts (SMTP refusing, SMTP never greeting,
 * Twilio answering 500): an SMTP server that is down, and Twilio (Messages and Verify) that never answers.
 * Each is a bounded 503 with Retry-After, leaves the flow as it was, and a retry works once the provider is back.
 */

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
/** A hang detector, far above the 500 ms provider timeouts configured here. */
const BOUND_MS = 8000

t.test('an SMTP server that is down: 503 delivery_failed, nothing left behind, then the send works', async (t) => {
  const rig = await startRig(t, { env: { SMTP_TIMEOUT_MS: '500' } })
  await rig.addPerson(ADA)
  const browser = rig.device()
  await rig.smtp.setMode('down')
  const outcome = await settlesWithin(browser.post('/api/auth/send-otp', { channel: 'email', email: ADA.email }), BOUND_MS)
  t.ok(outcome.settled, 'answered within the bound')
  const failed = outcome.settled ? outcome.value! : null
  t.equal(failed?.statusCode, 503)
  t.equal(failed?.json().code, 'delivery_failed')
  t.ok(Number(failed?.headers['retry-after']) > 0, 'with Retry-After')
  t.same(await rig.database.query('select id from vottery.verification_flows'), [], 'no flow left behind')
  await rig.smtp.setMode('ok')
  const flowId = await browser.verifyEmail(ADA.email)
  t.ok(flowId, 'once the server is back, the code goes out and verifies')
})

for (const smsMode of ['twilio', 'twilio-verify'] as const) {
  t.test(`Twilio (${smsMode}) that never answers: bounded 503 sms_delivery_failed, the flow intact, then the send works`, async (t) => {
    const rig = await startRig(t, { smsMode, env: { SMS_TIMEOUT_MS: '500' } })
    await rig.addPerson(ADA)
    const browser = rig.device()
    const flowId = await browser.verifyEmail(ADA.email)
    rig.twilio.setMode('hang')
    const outcome = await settlesWithin(browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: ADA.phone }), BOUND_MS)
    t.ok(outcome.settled, 'answered within the bound')
    const failed = outcome.settled ? outcome.value! : null
    t.equal(failed?.statusCode, 503)
    t.equal(failed?.json().code, 'sms_delivery_failed')
    t.ok(Number(failed?.headers['retry-after']) > 0, 'with Retry-After')
    const status = await browser.get(`/api/auth/status?flowId=${encodeURIComponent(flowId)}`)
    t.match(status.json().flow, { verified: { email: true, phone: false }, next: 'sms' }, 'the flow is as it was')
    t.same(await rig.database.query('select id from vottery.otp_codes where channel = \'sms\''), [], 'no SMS code left pending')
    rig.twilio.setMode('ok')
    await browser.verifyPhone(flowId, ADA.phone)
    t.pass('once Twilio answers, a retry at once (no cooldown) sends and verifies')
  })
}
