import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { Device, startRig, type Rig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'
import { writeMmdb } from '../../fixtures/mmdb.js'
import { usingPostgres } from '../../helper.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }
const ACCEPT_CH = 'Sec-CH-UA-Platform, Sec-CH-UA-Platform-Version, Sec-CH-UA-Mobile, Sec-CH-UA-Model'

/** The reverse proxy every test browser comes through (TRUST_PROXY). */
const PROXY = '10.0.0.2'
const LONDON = '81.2.69.142'
const NEW_YORK = '8.8.8.8'
const SYDNEY = '1.1.1.1'
const BERLIN = '46.5.1.1'

/** A browser behind the trusted proxy, whose own address (X-Forwarded-For) can change as it travels. */
class TravellingDevice extends Device {
  constructor(rig: Rig, public address: string) {
    super(rig, PROXY)
  }

  override request(options: InjectOptions & { url: string }): Promise<LightMyRequestResponse> {
    return super.request({ ...options, headers: { ...options.headers, 'x-forwarded-for': this.address } })
  }
}

async function startGeoRig(t: Test) {
  const path = join(t.testdir(), 'city.mmdb')
  writeFileSync(path, writeMmdb([
    { network: '81.2.69.0', prefix: 24, data: {
      city: { names: { en: 'London' } }, country: { iso_code: 'GB' }, subdivisions: [{ iso_code: 'ENG' }],
    } },
    { network: '8.8.8.0', prefix: 24, data: { country: { iso_code: 'US' } } },
    { network: '1.1.1.0', prefix: 24, data: { country: { iso_code: 'AU' } } },
    { network: '46.5.0.0', prefix: 16, data: { country: { iso_code: 'DE' } } },
  ]))
  return startRig(t, { env: { GEOIP_DB_PATH: path, TRUST_PROXY: PROXY } })
}

const newCountryEvents = (rig: Rig) => rig.database.query<{ user_id: string; ip: string; data: Record<string, unknown> }>(
  "select user_id, ip, data from vottery.audit_events where type = 'device.new_country' order by seq")

/** A timestamp column as milliseconds: PGlite gives a Date, postgres.js's raw queries text. */
const time = (value: Date | string) => new Date(value).getTime()

const deviceRow = async (rig: Rig, id: string) => (await rig.database.query<{
  last_ip: string; country: string | null; region: string | null; city: string | null; last_seen_at: Date | string
}>('select last_ip, country, region, city, last_seen_at from vottery.devices where id = $1', [id]))[0]!

t.test('a sign-in or refresh from a country the user was never seen in is audited, with the country code only', async (t) => {
  const rig = await startGeoRig(t)
  await rig.addPerson(ADA)
  const laptop = new TravellingDevice(rig, LONDON)
  const key = new SoftwareAuthenticator()
  const ada = await laptop.onboard(ADA, key)
  t.match(ada.reply.json().device, { ip: LONDON, location: { country: 'GB', region: 'ENG', city: 'London' } }, 'the address behind the proxy, placed')
  t.equal((await laptop.refresh()).statusCode, 200)
  t.same(await newCountryEvents(rig), [], 'the first country a user is seen in is not news')

  // The same passkey, from a browser in the United States.
  const phone = new TravellingDevice(rig, NEW_YORK)
  const login = await phone.passkeyLogin(key)
  t.equal(login.statusCode, 200, login.body)
  const phoneDeviceId = login.json().device.id as string
  t.same(await newCountryEvents(rig), [
    { user_id: ada.userId, ip: NEW_YORK, data: { device: phoneDeviceId, country: 'US', via: 'passkey_login' } },
  ])

  // The laptop travels: its next refresh comes from Australia, and the device row follows.
  const before = await deviceRow(rig, ada.deviceId)
  laptop.address = SYDNEY
  t.equal((await laptop.refresh()).statusCode, 200)
  const after = await deviceRow(rig, ada.deviceId)
  t.match(after, { last_ip: SYDNEY, country: 'AU', region: null, city: null }, 'the refresh moved the device')
  t.ok(time(after.last_seen_at) >= time(before.last_seen_at), 'and its last sighting')
  const listed = await laptop.get('/api/devices/list', { authorization: `Bearer ${(await laptop.refresh()).json().accessToken as string}` })
  t.match(listed.json().find((d: { id: string }) => d.id === ada.deviceId), { ip: SYDNEY, location: { country: 'AU' }, current: true })
  t.notOk('region' in listed.json().find((d: { id: string }) => d.id === ada.deviceId).location, 'no region the database does not know')

  // Seen before, in any of these countries: nothing more.
  t.equal((await phone.passkeyLogin(key)).statusCode, 200)
  laptop.address = LONDON
  t.equal((await laptop.refresh()).statusCode, 200)

  // A new device onboarded from Germany.
  await rig.smtp.waitForMail(ADA.email, 2)
  const tablet = new TravellingDevice(rig, BERLIN)
  const onTablet = await tablet.onboard(ADA)
  const events = await newCountryEvents(rig)
  t.same(events.map((e) => [e.data.country, e.data.via, e.ip]), [
    ['US', 'passkey_login', NEW_YORK],
    ['AU', 'refresh', SYDNEY],
    ['DE', 'registration', BERLIN],
  ])
  t.equal(events[2]!.data.device, onTablet.deviceId)
  for (const event of events) t.same(Object.keys(event.data).sort(), ['country', 'device', 'via'], 'the country code, no region or city')
  const countries = await rig.database.query<{ country: string }>('select country from vottery.user_countries where user_id = $1 order by country', [ada.userId])
  t.same(countries.map((c) => c.country), ['AU', 'DE', 'GB', 'US'])
})

t.test('a refresh records the device\'s last address, time and location, even without a country', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const laptop = rig.device('203.0.113.10')
  const ada = await laptop.onboard(ADA)
  const [before] = await rig.database.query<{ last_seen_at: Date | string }>('select last_seen_at from vottery.devices')
  const moved = new Device(rig, '198.51.100.20')
  for (const [name, value] of laptop.cookies) moved.cookies.set(name, value)
  const refreshed = await moved.refresh()
  t.equal(refreshed.statusCode, 200)
  const [after] = await rig.database.query<{ last_ip: string; last_seen_at: Date | string; country: string | null }>('select last_ip, last_seen_at, country from vottery.devices')
  t.equal(after!.last_ip, '198.51.100.20')
  t.equal(after!.country, null)
  t.ok(time(after!.last_seen_at) >= time(before!.last_seen_at))
  const [session] = await rig.database.query<{ ip: string }>('select ip from vottery.sessions where id = $1', [ada.sessionId])
  t.equal(session!.ip, '198.51.100.20', 'the session moved with it')
})

t.test('fingerprint: a re-bind that meets the same browser\'s device just being created takes that device, without an error', {
  skip: usingPostgres ? false : 'needs PostgreSQL: two transactions open at once',
}, async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const ada = await rig.device().onboard(ADA, new SoftwareAuthenticator(), { fingerprint: 'fp-laptop' })
  const cookieHash = 'c'.repeat(43)
  const sighting = { userId: ada.userId, cookieHash, ip: '203.0.113.10' }

  // The same browser, with a new cookie, signs in twice at once: first without declaring anything (a new
  // device for the new cookie, not committed yet)...
  let commit!: () => void
  const committing = new Promise<void>((resolve) => { commit = resolve })
  let created!: () => void
  const inserted = new Promise<void>((resolve) => { created = resolve })
  const first = rig.database.db.transaction(async (tx) => {
    const seen = await rig.app.devices.recordSighting(tx, sighting)
    created()
    await committing
    return seen
  })
  await inserted
  // ...then declaring the laptop's fingerprint: moving the laptop to the new cookie waits on the first one's row.
  const second = rig.database.db.transaction((tx) => rig.app.devices.recordSighting(tx, { ...sighting, declared: { fingerprint: 'fp-laptop' } }))
  let waiting = false
  for (let i = 0; i < 1500 && !waiting; i++) {
    const [row] = await rig.database.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
    waiting = row!.n > 0
    if (!waiting) await sleep(20)
  }
  t.ok(waiting, 'the re-bind waits on the device being created')
  commit()

  const [a, b] = await Promise.all([first, second])
  t.equal(b.device.id, a.device.id, 'the second sign-in is on the device the first one created')
  t.equal(b.rebound, false)
  const rows = await rig.database.query<{ id: string; cookie_hash: string }>('select id, cookie_hash from vottery.devices where user_id = $1 order by first_seen_at', [ada.userId])
  t.same(rows.map((r) => r.id), [ada.deviceId, a.device.id], 'the laptop stays where it was, beside the new device')
  t.not(rows[0]!.cookie_hash, cookieHash, 'still on its own cookie')
})

t.test('fingerprint: a browser that lost its cookie is recognised as the device it was, never as another user\'s', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const home = rig.device('8.8.8.8')
  const ada = await home.onboard(ADA, new SoftwareAuthenticator(), { name: 'Home PC', fingerprint: 'fp-home' })
  const [original] = await rig.database.query<{ cookie_hash: string }>('select cookie_hash from vottery.devices')

  // Cookies cleared: the same browser, a new vt_device cookie, onboarding again with a new passkey.
  await rig.smtp.waitForMail(ADA.email, 2)
  const cleared = rig.device('8.8.8.8')
  const again = await cleared.onboard(ADA, new SoftwareAuthenticator(), { fingerprint: 'fp-home' })
  t.equal(again.deviceId, ada.deviceId, 'the same device, not a second one')
  t.match(again.reply.json().device, { name: 'Home PC', hasPasskey: true, current: true })
  const rows = await rig.database.query<{ id: string; cookie_hash: string }>('select id, cookie_hash from vottery.devices')
  t.equal(rows.length, 1)
  t.not(rows[0]!.cookie_hash, original!.cookie_hash, 'now bound to the new cookie')
  const credentials = await rig.database.query<{ device_id: string }>('select device_id from vottery.webauthn_credentials')
  t.same(credentials.map((c) => c.device_id), [ada.deviceId, ada.deviceId], 'both passkeys on it')
  const rebound = await rig.database.query<{ data: { device: string } }>("select data from vottery.audit_events where type = 'device.rebound'")
  t.same(rebound.map((e) => e.data.device), [ada.deviceId], 'the move is audited')

  // Through devices/register too: 200, the device it was.
  const third = rig.device('8.8.8.8')
  const registered = await third.post('/api/devices/register', { fingerprint: 'fp-home' }, again.headers)
  t.equal(registered.statusCode, 200)
  t.match(registered.json(), { id: ada.deviceId, current: true })
  const other = await rig.device('8.8.8.8').post('/api/devices/register', { fingerprint: 'fp-elsewhere' }, again.headers)
  t.equal(other.statusCode, 201, 'another fingerprint is another device')

  // Bob's browser declaring Ada's fingerprint gets a device of his own.
  const bob = await rig.device('9.9.9.9').onboard(BOB, new SoftwareAuthenticator(), { fingerprint: 'fp-home' })
  t.not(bob.deviceId, ada.deviceId)
  t.equal((await rig.database.query('select 1 from vottery.devices where user_id = $1', [ada.userId])).length, 2)

  // A removed device is not recognised any more.
  const phone = rig.device('1.1.1.1')
  await rig.smtp.waitForMail(ADA.email, 4)
  const onPhone = await phone.onboard(ADA)
  t.equal((await phone.request({ method: 'DELETE', url: `/api/devices/${ada.deviceId}`, headers: onPhone.headers })).statusCode, 204)
  const fresh = await rig.device('8.8.8.8').post('/api/devices/register', { fingerprint: 'fp-home' }, onPhone.headers)
  t.equal(fresh.statusCode, 201)
  t.not(fresh.json().id, ada.deviceId)
})

t.test('Accept-CH on every /api/auth reply, errors included, so later sign-ins carry the Client Hints', async (t) => {
  const rig = await startRig(t)
  const browser = rig.device()
  for (const reply of [
    await browser.get('/api/auth/status'),
    await browser.post('/api/auth/send-otp', { channel: 'email', email: 'nobody@example.com' }),
    await browser.post('/api/auth/passkey/options', {}),
    await browser.refresh(),
    await browser.post('/api/auth/verify-otp', { flowId: 'x' }),
  ]) {
    t.equal(reply.headers['accept-ch'], ACCEPT_CH, `${reply.statusCode} ${reply.raw.req.url}`)
  }
})
