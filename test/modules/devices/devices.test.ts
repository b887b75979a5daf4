import t from 'tap'
import { APP_ORIGIN, startRig, type Device, type Rig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
const DEVICE_KEYS = ['browser', 'browserVersion', 'current', 'firstSeenAt', 'hasPasskey', 'id', 'ip', 'lastSeenAt', 'name', 'os', 'osVersion', 'trusted', 'type']

interface DeviceBody { id: string; name: string | null; current: boolean; hasPasskey: boolean; trusted: boolean; type: string; os: string | null; ip: string | null }

const list = async (device: Device, headers: Record<string, string>) => {
  const reply = await device.get('/api/devices/list', headers)
  if (reply.statusCode !== 200) throw new Error(`devices/list: ${reply.statusCode} ${reply.body}`)
  return reply.json() as DeviceBody[]
}

const auditEvents = (rig: Rig, type: string) =>
  rig.database.query<{ user_id: string; actor: string | null; ip: string | null; data: Record<string, unknown> }>(
    'select user_id, actor, ip, data from vottery.audit_events where type = $1 order by seq', [type])

const deviceRow = async (rig: Rig, id: string) =>
  (await rig.database.query<{ name: string | null; trusted: boolean; revoked_at: Date | null; cookie_hash: string }>(
    'select name, trusted, revoked_at, cookie_hash from vottery.devices where id = $1', [id]))[0]!

/** Ada onboarded on a laptop, then on a phone (the second onboarding waits for the first's notice mail). */
async function adaOnLaptopAndPhone(t: Parameters<typeof startRig>[0]) {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const ada = await laptop.onboard(ADA)
  await rig.smtp.waitForMail(ADA.email, 2)
  const phone = rig.device('1.1.1.1', SAFARI_IPHONE)
  const onPhone = await phone.onboard(ADA)
  return { rig, laptop, ada, phone, onPhone }
}

t.test('register: 200 for the device this cookie already is, 201 for a new one; a cookie set when missing', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const ada = await laptop.onboard(ADA)

  const known = await laptop.post('/api/devices/register', {}, ada.headers)
  t.equal(known.statusCode, 200, 'onboarding recorded this device already')
  t.same(Object.keys(known.json()).filter((k) => k !== 'location').sort(), DEVICE_KEYS, 'the contract\'s Device')
  t.match(known.json(), { id: ada.deviceId, current: true, hasPasskey: true, trusted: false, type: 'desktop', os: 'macOS', browser: 'Chrome', ip: '8.8.8.8' })
  t.equal(known.headers['accept-ch'], 'Sec-CH-UA-Platform, Sec-CH-UA-Platform-Version, Sec-CH-UA-Mobile, Sec-CH-UA-Model')
  t.notOk(known.cookies.some((c: { name: string }) => c.name === 'vt_device'), 'a cookie it had is kept')

  const named = await laptop.post('/api/devices/register', { name: '  Work laptop ', formFactor: 'laptop', platformAuthenticator: true }, ada.headers)
  t.equal(named.statusCode, 200)
  t.match(named.json(), { id: ada.deviceId, name: 'Work laptop', type: 'laptop' }, 'what the client declares refines the record')

  // The same person's access token, in a browser that has never been here: a new device.
  const tablet = rig.device('9.9.9.9', SAFARI_IPHONE)
  const created = await tablet.post('/api/devices/register', { name: 'Tablet' }, ada.headers)
  t.equal(created.statusCode, 201, created.body)
  const cookie = created.cookies.find((c: { name: string }) => c.name === 'vt_device') as { path: string; httpOnly: boolean } | undefined
  t.match(cookie, { path: '/', httpOnly: true }, 'a vt_device cookie was set')
  const tabletDevice = created.json() as DeviceBody
  t.not(tabletDevice.id, ada.deviceId)
  t.match(tabletDevice, { name: 'Tablet', current: true, hasPasskey: false, type: 'mobile', os: 'iOS', ip: '9.9.9.9' })
  const again = await tablet.post('/api/devices/register', {}, ada.headers)
  t.equal(again.statusCode, 200, 'the second time it is known')
  t.equal(again.json().id, tabletDevice.id)
  t.equal(again.json().name, 'Tablet', 'a name not sent is kept')

  const listed = await list(laptop, ada.headers)
  t.same(listed.map((d) => d.id).sort(), [ada.deviceId, tabletDevice.id].sort())
  const registered = await auditEvents(rig, 'device.registered')
  t.equal(registered.length, 1, 'one audit event, for the device it created')
  t.match(registered[0], { user_id: ada.userId, actor: ada.userId, ip: '9.9.9.9', data: { device: tabletDevice.id, session: ada.sessionId } })

  for (const payload of [{ fingerprint: '' }, { formFactor: 'phablet' }, { name: 'x', extra: true }, { platformAuthenticator: 'yes' }]) {
    const refused = await laptop.post('/api/devices/register', payload, ada.headers)
    t.equal(refused.json().code, 'validation_failed', JSON.stringify(payload))
  }
  const stranger = rig.device()
  const anonymous = await stranger.post('/api/devices/register', {})
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'unauthorized')
  t.notOk(stranger.cookies.has('vt_device'), 'no cookie for a refused request')
})

t.test('list: my devices after real onboardings, current by cookie (else by session), hasPasskey; never someone else\'s', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const onLaptop = await laptop.onboard(ADA, new SoftwareAuthenticator(), { name: 'Laptop' })
  await rig.smtp.waitForMail(ADA.email, 2)
  const phone = rig.device('1.1.1.1', SAFARI_IPHONE)
  const onPhone = await phone.onboard(ADA)
  const bob = await rig.device('9.9.9.9').onboard(BOB)
  // A browser that only holds an access token of Ada's (no passkey there): registered, so listed.
  const kiosk = rig.device('203.0.113.7')
  const kioskDevice = (await kiosk.post('/api/devices/register', {}, onLaptop.headers)).json() as DeviceBody

  const fromLaptop = await list(laptop, onLaptop.headers)
  t.same(fromLaptop.map((d) => d.id).sort(), [onLaptop.deviceId, onPhone.deviceId, kioskDevice.id].sort(), 'all of mine, none of Bob\'s')
  t.equal(fromLaptop[0]!.id, kioskDevice.id, 'most recently seen first')
  for (const device of fromLaptop) t.same(Object.keys(device).filter((k) => k !== 'location').sort(), DEVICE_KEYS)
  t.same(fromLaptop.filter((d) => d.current).map((d) => d.id), [onLaptop.deviceId], 'current: the cookie\'s device')
  t.same(fromLaptop.filter((d) => d.hasPasskey).map((d) => d.id).sort(), [onLaptop.deviceId, onPhone.deviceId].sort())
  t.match(fromLaptop.find((d) => d.id === onPhone.deviceId), { type: 'mobile', os: 'iOS', ip: '1.1.1.1' })
  t.match(fromLaptop.find((d) => d.id === onLaptop.deviceId), { name: 'Laptop', type: 'desktop', ip: '8.8.8.8' })

  const fromPhone = await list(phone, onPhone.headers)
  t.same(fromPhone.filter((d) => d.current).map((d) => d.id), [onPhone.deviceId])
  const noCookie = await rig.app.inject({ method: 'GET', url: '/api/devices/list', headers: onPhone.headers })
  t.same((noCookie.json() as DeviceBody[]).filter((d) => d.current).map((d) => d.id), [onPhone.deviceId], 'without a cookie: the session\'s device')
  const stranger = rig.device()
  await stranger.get('/api/auth/status')
  t.ok(stranger.cookies.has('vt_device'))
  const strangeCookie = await stranger.get('/api/devices/list', onPhone.headers)
  t.same((strangeCookie.json() as DeviceBody[]).filter((d) => d.current), [], 'a cookie that is none of mine: none is current')

  t.same((await list(rig.device(), bob.headers)).map((d) => d.id), [bob.deviceId])
  const anonymous = await rig.app.inject({ method: 'GET', url: '/api/devices/list' })
  t.equal(anonymous.statusCode, 401)
})

t.test('update: rename and trust; another user\'s device, a removed one or a malformed id is 404 and nothing changes', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const ada = await laptop.onboard(ADA, new SoftwareAuthenticator(), { name: 'Laptop' })
  const bobBrowser = rig.device('9.9.9.9')
  const bob = await bobBrowser.onboard(BOB)
  const put = (device: Device, headers: Record<string, string>, payload: unknown) =>
    device.request({ method: 'PUT', url: '/api/devices/update', headers, payload: payload as object })

  const renamed = await put(laptop, ada.headers, { deviceId: ada.deviceId, name: ' Ada\'s Mac ', trusted: true })
  t.equal(renamed.statusCode, 200, renamed.body)
  t.match(renamed.json(), { id: ada.deviceId, name: 'Ada\'s Mac', trusted: true, current: true, hasPasskey: true })
  const untrusted = await put(laptop, ada.headers, { deviceId: ada.deviceId, trusted: false })
  t.match(untrusted.json(), { name: 'Ada\'s Mac', trusted: false }, 'a field not sent is kept')
  t.match((await put(laptop, ada.headers, { deviceId: ada.deviceId })).json(), { id: ada.deviceId, name: 'Ada\'s Mac' }, 'nothing to change: the device as it is')
  t.match((await list(laptop, ada.headers))[0], { name: 'Ada\'s Mac', trusted: false })
  const updates = await auditEvents(rig, 'device.updated')
  t.same(updates.map((e) => e.data), [
    { device: ada.deviceId, fields: 'name,trusted', trusted: true },
    { device: ada.deviceId, fields: 'trusted', trusted: false },
  ], 'each change audited, without the name')

  const before = await deviceRow(rig, ada.deviceId)
  for (const [why, headers, payload] of [
    ['Bob, Ada\'s device', bob.headers, { deviceId: ada.deviceId, name: 'Mine now', trusted: true }],
    ['an unknown id', ada.headers, { deviceId: '00000000-0000-4000-8000-000000000000', name: 'x' }],
    ['a malformed id', ada.headers, { deviceId: 'not-a-uuid', name: 'x' }],
  ] as const) {
    const refused = await put(bobBrowser, headers, payload)
    t.equal(refused.statusCode, 404, why)
    t.equal(refused.json().code, 'not_found', why)
  }
  t.same(await deviceRow(rig, ada.deviceId), before, 'Ada\'s device unchanged')
  for (const payload of [{ deviceId: ada.deviceId, name: '   ' }, { deviceId: ada.deviceId, name: '' }, { deviceId: ada.deviceId, trusted: 'yes' }, { name: 'x' }, { deviceId: ada.deviceId, type: 'mobile' }]) {
    t.equal((await put(laptop, ada.headers, payload)).json().code, 'validation_failed', JSON.stringify(payload))
  }
  t.equal((await rig.app.inject({ method: 'PUT', url: '/api/devices/update', payload: { deviceId: ada.deviceId, name: 'x' } })).statusCode, 401)
})

t.test('remove: in one go the device is gone, its sessions end and its passkeys stop; other devices and users untouched', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const laptop = rig.device('8.8.8.8', CHROME_MAC)
  const laptopKey = new SoftwareAuthenticator()
  const onLaptop = await laptop.onboard(ADA, laptopKey)
  // A second session on the laptop, from a passkey sign-in.
  const again = await laptop.passkeyLogin(laptopKey)
  t.equal(again.statusCode, 200)
  const secondLaptopSession = { authorization: `Bearer ${again.json().accessToken as string}` }
  await rig.smtp.waitForMail(ADA.email, 2)
  const phone = rig.device('1.1.1.1', SAFARI_IPHONE)
  const phoneKey = new SoftwareAuthenticator()
  const onPhone = await phone.onboard(ADA, phoneKey)
  const bobBrowser = rig.device('9.9.9.9')
  const bob = await bobBrowser.onboard(BOB)

  const remove = (device: Device, headers: Record<string, string>, id: string) => device.request({ method: 'DELETE', url: `/api/devices/${id}`, headers })

  const foreign = await remove(bobBrowser, bob.headers, onLaptop.deviceId)
  t.equal(foreign.statusCode, 404, 'Ada\'s device does not exist for Bob')
  t.equal(foreign.json().code, 'not_found')
  t.equal((await deviceRow(rig, onLaptop.deviceId)).revoked_at, null, 'and it is untouched')
  t.equal((await laptop.get('/api/devices/list', onLaptop.headers)).statusCode, 200, 'its session too')
  for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000', 'list']) {
    const refused = await remove(phone, onPhone.headers, id)
    t.equal(refused.statusCode, 404, id)
    t.equal(refused.json().code, 'not_found', id)
  }

  const removed = await remove(phone, onPhone.headers, onLaptop.deviceId)
  t.equal(removed.statusCode, 204, removed.body)
  t.equal(removed.body, '')
  t.notOk(removed.cookies.some((c: { name: string }) => c.name === 'vt_refresh'), 'another device: the phone keeps its refresh cookie')

  for (const headers of [onLaptop.headers, secondLaptopSession]) {
    const dead = await laptop.get('/api/devices/list', headers)
    t.equal(dead.statusCode, 401, 'the laptop\'s access tokens are refused')
    t.equal(dead.json().code, 'unauthorized')
  }
  const refresh = await laptop.refresh()
  t.equal(refresh.statusCode, 401)
  t.equal(refresh.json().code, 'invalid_refresh_token', 'and its refresh token')
  const login = await laptop.passkeyLogin(laptopKey)
  t.equal(login.statusCode, 401)
  t.equal(login.json().code, 'unknown_credential', 'and its passkey')

  t.same((await list(phone, onPhone.headers)).map((d) => d.id), [onPhone.deviceId], 'the phone is all that is left')
  t.equal((await phone.refresh()).statusCode, 200, 'the phone still refreshes')
  t.equal((await phone.passkeyLogin(phoneKey)).statusCode, 200, 'and signs in with its passkey')
  t.same((await list(bobBrowser, bob.headers)).map((d) => d.id), [bob.deviceId], 'Bob is untouched')

  const [device] = await rig.database.query<{ revoked_at: Date | null }>('select revoked_at from vottery.devices where id = $1', [onLaptop.deviceId])
  t.ok(device!.revoked_at, 'the row is kept, marked removed')
  const sessions = await rig.database.query<{ device_id: string; revoked_reason: string | null }>(
    'select device_id, revoked_reason from vottery.sessions where user_id = $1 order by created_at', [onLaptop.userId])
  t.same(sessions.filter((s) => s.device_id === onLaptop.deviceId).map((s) => s.revoked_reason), ['device_removed', 'device_removed'])
  t.ok(sessions.filter((s) => s.device_id === onPhone.deviceId).every((s) => s.revoked_reason === null), 'the phone\'s sessions live on')
  const credentials = await rig.database.query<{ device_id: string; disabled_reason: string | null }>('select device_id, disabled_reason from vottery.webauthn_credentials')
  t.same(credentials.filter((c) => c.device_id === onLaptop.deviceId).map((c) => c.disabled_reason), ['device_removed'])
  t.same(credentials.filter((c) => c.device_id !== onLaptop.deviceId).map((c) => c.disabled_reason), [null, null])
  const events = await auditEvents(rig, 'device.removed')
  t.same(events.map((e) => [e.user_id, e.actor, e.data]), [[onLaptop.userId, onLaptop.userId, { device: onLaptop.deviceId, sessions: 2, passkeys: 1 }]])
  t.ok((await auditEvents(rig, 'session.revoked')).some((e) => e.data.reason === 'device_removed' && e.data.sessions === 2), 'the ended sessions audited')

  t.equal((await remove(phone, onPhone.headers, onLaptop.deviceId)).statusCode, 404, 'a removed device is not found')
  const update = await phone.request({ method: 'PUT', url: '/api/devices/update', headers: onPhone.headers, payload: { deviceId: onLaptop.deviceId, name: 'x' } })
  t.equal(update.statusCode, 404, 'nor can it be renamed')

  // Removing the device this request comes from ends this session too, and clears its refresh cookie.
  const self = await remove(phone, onPhone.headers, onPhone.deviceId)
  t.equal(self.statusCode, 204)
  const cleared = self.cookies.find((c: { name: string }) => c.name === 'vt_refresh') as { value: string; path: string } | undefined
  t.match(cleared, { value: '', path: '/api/auth' }, 'vt_refresh cleared')
  t.notOk(phone.refreshToken)
  t.equal((await phone.get('/api/devices/list', onPhone.headers)).statusCode, 401)
  t.equal((await rig.app.inject({ method: 'DELETE', url: `/api/devices/${onPhone.deviceId}` })).statusCode, 401, 'needs a token')
})

t.test('a removed device comes back as a new one when its owner proves themselves on it again', async (t) => {
  const { laptop, ada, phone, onPhone } = await adaOnLaptopAndPhone(t)
  t.equal((await phone.request({ method: 'PUT', url: '/api/devices/update', headers: onPhone.headers, payload: { deviceId: ada.deviceId, trusted: true } })).statusCode, 200)
  t.equal((await phone.request({ method: 'DELETE', url: `/api/devices/${ada.deviceId}`, headers: onPhone.headers })).statusCode, 204)

  // The phone's token in the laptop's browser: the laptop's cookie names a removed device.
  const back = await laptop.post('/api/devices/register', {}, onPhone.headers)
  t.equal(back.statusCode, 201, 'created again, for its owner')
  t.match(back.json(), { id: ada.deviceId, trusted: false, hasPasskey: false, current: true }, 'its trust and passkey stay gone')
  t.equal((await list(phone, onPhone.headers)).length, 2)
  t.equal((await phone.refresh({ origin: APP_ORIGIN })).statusCode, 200)
})

t.test('removing one device twice at once: one 204, one 404, and the removal is recorded once', async (t) => {
  const { rig, laptop, ada, phone, onPhone } = await adaOnLaptopAndPhone(t)
  const remove = () => phone.request({ method: 'DELETE', url: `/api/devices/${ada.deviceId}`, headers: onPhone.headers })
  const codes = (await Promise.all([remove(), remove(), remove()])).map((reply) => reply.statusCode).sort()
  t.same(codes, [204, 404, 404], 'exactly one removal wins')
  t.equal((await auditEvents(rig, 'device.removed')).length, 1, 'audited once')
  t.ok((await deviceRow(rig, ada.deviceId)).revoked_at, 'the device is removed')
  t.equal((await laptop.get('/api/users/profile', ada.headers)).statusCode, 401, 'its session is over')
  t.equal((await phone.get('/api/users/profile', onPhone.headers)).statusCode, 200, 'the other device carries on')
})
