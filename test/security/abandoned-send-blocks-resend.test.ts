import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startRig } from '../fixtures/onboarding.js'
import { abandonedSendSeconds } from '../../src/modules/auth/flow-service.js'

// Finding: a send is recorded as "in progress" before the provider is called and marked sent after. When the
// database went away in between, the mark was never written, and a send in progress holds off any other one:
// the flow could never send that channel again (429 otp_resend_too_soon with Retry-After: 1, for ever). A send
// in progress for longer than any delivery can take now counts as abandoned.

const ADA = { email: 'ada@example.com', phone: '+14155552671' }

t.test('a send whose outcome could not be written holds the next one off for a bounded time only', async (t) => {
  const rig = await startRig(t, { env: { SMTP_TIMEOUT_MS: '200', SMS_TIMEOUT_MS: '200', OTP_RESEND_COOLDOWN: '1' } })
  await rig.addPerson(ADA)
  const browser = rig.device()
  const flowId = await browser.verifyEmail(ADA.email)

  // Marking a code sent fails as if the connection had failed (SQLSTATE 08006).
  await rig.database.query(`create function vottery.test_unavailable() returns trigger language plpgsql as $$
    begin raise exception 'the database went away' using errcode = '08006'; end $$`)
  await rig.database.query(`create trigger test_outage before update on vottery.otp_codes for each row
    when (old.sent_at is null and new.sent_at is not null) execute function vottery.test_unavailable()`)
  const cut = await browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: ADA.phone })
  t.equal(cut.statusCode, 503, 'the send answered 503')
  t.equal(rig.twilio.messages.length, 1, 'though the SMS had gone out')
  await rig.database.query('drop trigger test_outage on vottery.otp_codes')
  await rig.database.query('drop function vottery.test_unavailable()')

  const bound = abandonedSendSeconds(rig.config)
  const held = await browser.post('/api/auth/send-otp', { channel: 'sms', flowId, phone: ADA.phone })
  t.equal(held.statusCode, 429)
  t.equal(held.json().code, 'otp_resend_too_soon')
  const wait = Number(held.headers['retry-after'])
  t.ok(wait > 1 && wait <= bound, `Retry-After says when the send counts as abandoned (${wait} s of at most ${bound})`)
  await sleep(wait * 1000)
  await browser.verifyPhone(flowId, ADA.phone)
  t.pass('then a new code goes out and verifies')
})
