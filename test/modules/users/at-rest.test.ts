import t from 'tap'
import { signedIn, startRig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

/** Every value of a row as text; bytes read as Latin-1, so that text hidden in a bytea column shows too. */
function asText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1')
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'bigint') return value.toString()
  if (Array.isArray(value)) return value.map(asText).join(' ')
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

t.test('at rest: no table of the vottery schema holds a person\'s email, phone or demographics in clear', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({
    email: 'Ada.Secret@Example.com', phone: '(415) 555-2671', firstName: 'Ada', lastName: 'Lovelace', gender: '2', birthDate: '1990-12-10',
  })
  const key = new SoftwareAuthenticator()
  const phone = rig.device('8.8.8.8')
  const flowId = await phone.verifyEmail('ADA.SECRET@example.com')
  await phone.verifyPhone(flowId, '+1 415 555 2671', '+14155552671')
  const captured = await phone.captureBiometric(flowId, key, { device: { name: 'Ada\'s phone' } })
  t.equal(captured.statusCode, 201)
  const ada = signedIn(captured)
  const prefilled = await rig.app.inject({ method: 'GET', url: '/api/users/demographics', headers: ada.headers })
  t.match(prefilled.json(), { gender: 'female', birthDate: '1990-12-10' }, 'Sngine\'s demographics were stored')

  const profile = await rig.app.inject({
    method: 'PUT', url: '/api/users/profile', headers: ada.headers,
    payload: { displayName: 'Ada L.', bio: 'Counts things', language: 'en-GB', preferences: { theme: 'dark' } },
  })
  t.equal(profile.statusCode, 200)
  const demographics = await rig.app.inject({
    method: 'PUT', url: '/api/users/demographics', headers: ada.headers,
    payload: { birthDate: '1989-03-04', country: 'GB', region: 'Greater London', city: 'Marylebone', language: 'en' },
  })
  t.equal(demographics.statusCode, 200)
  t.equal((await phone.refresh()).statusCode, 200)
  t.equal((await rig.device('1.1.1.1').passkeyLogin(key)).statusCode, 200)
  await rig.smtp.waitForMail('ada.secret@example.com', 2)

  const tables = await rig.database.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'vottery' and table_type = 'BASE TABLE' order by 1`,
  )
  const names = tables.map((table) => table.name)
  for (const expected of ['users', 'user_profiles', 'audit_events', 'sessions', 'devices', 'webauthn_credentials', 'verification_flows', 'otp_codes']) {
    t.ok(names.includes(expected), `${expected} is read`)
  }
  let dump = ''
  for (const name of names) {
    const rows = await rig.database.query<Record<string, unknown>>(`select * from vottery."${name.replace(/"/g, '""')}"`)
    for (const row of rows) dump += `${name}: ${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, asText(v)])))}\n`
  }
  dump = dump.toLowerCase()
  t.ok(dump.includes('ada l.'), 'the display name is there (it may be): the dump did read the rows')
  t.ok(dump.includes('email_enc') && dump.includes('demographics_enc'), 'and the sealed columns')

  const clear = {
    email: 'ada.secret@example.com',
    'email as Sngine has it': 'Ada.Secret@Example.com',
    'email local part': 'ada.secret',
    'phone, E.164': '+14155552671',
    'phone, national digits': '4155552671',
    'phone as typed': '555 2671',
    'phone as Sngine has it': '555-2671',
    'birth date from Sngine': '1990-12-10',
    'birth date set later': '1989-03-04',
    gender: 'female',
    city: 'Marylebone',
    region: 'Greater London',
  }
  for (const [what, value] of Object.entries(clear)) {
    t.notOk(dump.includes(value.toLowerCase()), `no ${what} in any table`)
    t.notOk(rig.logs.some((line) => line.toLowerCase().includes(value.toLowerCase())), `no ${what} in the log`)
  }
})
