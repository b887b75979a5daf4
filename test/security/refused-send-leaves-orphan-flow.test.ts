import t from 'tap'
import { startRig } from '../fixtures/onboarding.js'
import { changedTables, snapshotTables } from '../fixtures/table-snapshot.js'

// Found by the fuzzer (a browser keeping one address): a send-otp refused by an hourly cap still wrote a
// new verification flow, whose id nobody ever got: any client could add rows at will, one per refusal.
// The same write order left a flow without its code when the database went away between the two, and a
// flow behind every failed delivery.
t.test('a send refused by an hourly cap writes nothing', async (t) => {
  const rig = await startRig(t, { env: { OTP_SENDS_PER_DESTINATION_PER_HOUR: '1', OTP_SENDS_PER_IP_PER_HOUR: '2' } })
  await rig.addPerson({ email: 'ada@example.com' })
  t.equal((await rig.device('192.0.2.1').post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).statusCode, 202)
  t.equal((await rig.device('192.0.2.2').post('/api/auth/send-otp', { channel: 'email', email: 'nobody@example.com' })).statusCode, 202)
  t.equal((await rig.device('192.0.2.2').post('/api/auth/send-otp', { channel: 'email', email: 'nobody2@example.com' })).statusCode, 202)

  const before = await snapshotTables(rig.database)
  const byDestination = await rig.device('192.0.2.3').post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(byDestination.json().code, 'otp_send_limit')
  const byAddress = await rig.device('192.0.2.2').post('/api/auth/send-otp', { channel: 'email', email: 'nobody3@example.com' })
  t.equal(byAddress.json().code, 'otp_send_limit')
  t.same(changedTables(before, await snapshotTables(rig.database)), [], 'no table changed')
})

t.test('a send whose delivery failed leaves no flow behind', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'ada@example.com' })
  await rig.smtp.setMode('refuse-data')
  const before = await snapshotTables(rig.database)
  const failed = await rig.device().post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'delivery_failed')
  // The failure itself is an audit event (a 503 is no refusal); what must not stay is the flow.
  const changed = changedTables(before, await snapshotTables(rig.database))
  t.same(changed.filter((table) => /verification_flows|otp_codes/.test(table)), [], 'no flow and no code left')

  await rig.smtp.setMode('ok')
  t.equal((await rig.device().post('/api/auth/send-otp', { channel: 'email', email: 'ada@example.com' })).statusCode, 202, 'and the next send goes out')
})
