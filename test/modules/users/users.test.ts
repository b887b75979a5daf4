import t from 'tap'
import { build, createTestUser } from '../../helper.js'
import { startRig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'

t.test('profile: read, update, and nothing else can be set through it', async (t) => {
  const { app } = await build(t)
  const ada = await createTestUser(app, { email: 'ada@example.com' })
  const get = await app.inject({ method: 'GET', url: '/api/users/profile', headers: ada.headers })
  t.equal(get.statusCode, 200)
  t.match(get.json(), { id: ada.userId, email: 'a***@example.com', phone: null, roles: ['voter'], bio: null, preferences: {} })

  const put = await app.inject({
    method: 'PUT', url: '/api/users/profile', headers: ada.headers,
    payload: { displayName: 'Ada L.', bio: 'Counts things', avatarUrl: 'https://cdn.example/ada.png', preferences: { theme: 'dark' }, language: 'en-GB' },
  })
  t.equal(put.statusCode, 200)
  t.match(put.json(), { displayName: 'Ada L.', bio: 'Counts things', avatarUrl: 'https://cdn.example/ada.png', preferences: { theme: 'dark' }, language: 'en-GB' })
  const clear = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { bio: null } })
  t.match(clear.json(), { bio: null, displayName: 'Ada L.' }, 'null clears one field, the rest stay')

  for (const field of ['role', 'roles', 'id', 'sngineUserId', 'email', 'createdAt']) {
    const attempt = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { [field]: 'x' } })
    t.equal(attempt.statusCode, 400, `${field} cannot be set`)
    t.match(attempt.json(), { code: 'validation_failed', details: { field: `body.${field}` } })
  }
  const http = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { avatarUrl: 'http://plain.example/a.png' } })
  t.equal(http.json().code, 'validation_failed', 'avatars only over https')
  const big = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { preferences: { blob: 'x'.repeat(5000) } } })
  t.match(big.json(), { code: 'validation_failed', details: { field: 'body.preferences' } })
  const empty = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: {} })
  t.equal(empty.json().code, 'validation_failed')
  const anonymous = await app.inject({ method: 'GET', url: '/api/users/profile' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'unauthorized')
})

t.test('demographics are validated and stored encrypted', async (t) => {
  const { app, database } = await build(t)
  const ada = await createTestUser(app)
  t.same((await app.inject({ method: 'GET', url: '/api/users/demographics', headers: ada.headers })).json(),
    { gender: null, birthDate: null, country: null, region: null, city: null, language: null })
  const put = await app.inject({
    method: 'PUT', url: '/api/users/demographics', headers: ada.headers,
    payload: { gender: 'female', birthDate: '1990-12-10', country: 'GB', region: 'Greater London', city: 'Marylebone', language: 'en' },
  })
  t.equal(put.statusCode, 200)
  const partial = await app.inject({ method: 'PUT', url: '/api/users/demographics', headers: ada.headers, payload: { city: null } })
  t.same(partial.json(), { gender: 'female', birthDate: '1990-12-10', country: 'GB', region: 'Greater London', city: null, language: 'en' })
  for (const payload of [{ country: 'XX' }, { country: 'gb' }, { birthDate: '2090-01-01' }, { birthDate: '1990-13-01' }, { gender: 'robot' }, { city: '' }, { shoeSize: 9 }]) {
    const bad = await app.inject({ method: 'PUT', url: '/api/users/demographics', headers: ada.headers, payload })
    t.equal(bad.statusCode, 400, `refused: ${JSON.stringify(payload)}`)
    t.equal(bad.json().code, 'validation_failed')
  }
  const raw = JSON.stringify(await database.query('select * from vottery.user_profiles'))
  for (const clear of ['female', '1990-12-10', 'Greater London', '"GB"']) t.notOk(raw.includes(clear), `no clear ${clear} at rest`)
})

t.test('demographics are first filled from the Sngine account at the first onboarding, never overwritten after', async (t) => {
  const rig = await startRig(t)
  await rig.addPerson({ email: 'ada@example.com', phone: '+14155552671', firstName: 'Ada', lastName: 'Lovelace', gender: '2', birthDate: '1990-12-10' })
  const ada = await rig.device().onboard({ email: 'ada@example.com', phone: '+14155552671' })
  const get = (headers: { authorization: string }) => rig.app.inject({ method: 'GET', url: '/api/users/demographics', headers })
  t.same((await get(ada.headers)).json(), { gender: 'female', birthDate: '1990-12-10', country: null, region: null, city: null, language: null },
    'gender through SNGINE_GENDER_MAP (2 → female), the birth date as it is')
  t.match((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: ada.headers })).json(), { displayName: 'Ada Lovelace' },
    'the display name from the first and last name')

  // The person changes their mind: that is theirs to keep.
  const changed = await rig.app.inject({ method: 'PUT', url: '/api/users/demographics', headers: ada.headers, payload: { gender: 'other', birthDate: null, city: 'Marylebone' } })
  t.equal(changed.statusCode, 200)
  await rig.app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { displayName: 'Countess' } })
  await rig.database.query(`update public.users set user_gender = '1', user_birthdate = '1991-01-01', user_firstname = 'Augusta' where user_email = 'ada@example.com'`)
  const laptop = await rig.device('203.0.113.20').onboard({ email: 'ada@example.com', phone: '+14155552671' }, new SoftwareAuthenticator())
  t.equal(laptop.userId, ada.userId, 'the same user, on another device')
  t.same((await get(laptop.headers)).json(), { gender: 'other', birthDate: null, country: null, region: null, city: 'Marylebone', language: null },
    'a later onboarding leaves what the person set alone')
  t.match((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: laptop.headers })).json(), { displayName: 'Countess' })

  // Nothing usable on file: nothing filled in (an unmapped gender id, no birth date).
  await rig.addPerson({ email: 'bob@example.com', phone: '+14155550100', gender: '7', birthDate: null })
  const bob = await rig.device('203.0.113.30').onboard({ email: 'bob@example.com', phone: '+14155550100' })
  t.same((await get(bob.headers)).json(), { gender: null, birthDate: null, country: null, region: null, city: null, language: null })
  t.same(await rig.database.query('select user_id from vottery.user_profiles where user_id = $1', [bob.userId]), [], 'and no empty profile row for it')
})

t.test('activity: recorded, listed newest first, paged without gaps or repeats', async (t) => {
  const { app } = await build(t)
  const ada = await createTestUser(app)
  const other = await createTestUser(app)
  for (let i = 0; i < 25; i++) {
    const reply = await app.inject({ method: 'POST', url: '/api/users/activity', headers: ada.headers, payload: { type: 'page.view', meta: { n: i } } })
    t.equal(reply.statusCode, 201)
  }
  await app.inject({ method: 'POST', url: '/api/users/activity', headers: other.headers, payload: { type: 'page.view' } })
  const seen: number[] = []
  let cursor: string | null = null
  do {
    const reply = await app.inject({ method: 'GET', url: `/api/users/activity?limit=10${cursor ? `&cursor=${cursor}` : ''}`, headers: ada.headers })
    t.equal(reply.statusCode, 200)
    const body = reply.json() as { items: { meta: { n: number } }[]; nextCursor: string | null }
    seen.push(...body.items.map((item) => item.meta.n))
    cursor = body.nextCursor
    if (seen.length === 10) {
      // New activity between pages must not shift what the next page shows.
      await app.inject({ method: 'POST', url: '/api/users/activity', headers: ada.headers, payload: { type: 'page.view', meta: { n: 99 } } })
    }
  } while (cursor)
  t.same(seen, Array.from({ length: 25 }, (_, i) => 24 - i), 'all 25, newest first, once each, only mine')
  const bad = await app.inject({ method: 'GET', url: '/api/users/activity?cursor=bm9wZQ', headers: ada.headers })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'invalid_cursor')
  for (const payload of [{ type: 'Page View' }, { type: 'x'.repeat(65) }, { type: 'ok', meta: { blob: 'y'.repeat(5000) } }, { type: 'ok', extra: 1 }]) {
    t.equal((await app.inject({ method: 'POST', url: '/api/users/activity', headers: ada.headers, payload })).statusCode, 400)
  }
})

t.test('admin routes: the role matrix, role changes and the audit log', async (t) => {
  const { app } = await build(t)
  const voter = await createTestUser(app, { email: 'voter@example.com' })
  const auditor = await createTestUser(app, { roles: ['voter', 'auditor'] })
  const admin = await createTestUser(app, { roles: ['voter', 'admin'] })
  const routes = [
    { method: 'GET' as const, url: '/api/admin/users', allowed: ['admin'] },
    { method: 'PUT' as const, url: `/api/admin/users/${voter.userId}/roles`, payload: { roles: ['voter'] }, allowed: ['admin'] },
    { method: 'GET' as const, url: '/api/admin/audit', allowed: ['admin', 'auditor'] },
  ]
  const people = { voter, auditor, admin }
  for (const route of routes) {
    t.equal((await app.inject({ method: route.method, url: route.url, payload: route.payload })).statusCode, 401, `${route.method} ${route.url} anonymous → 401`)
    for (const [name, person] of Object.entries(people)) {
      const reply = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: person.headers })
      const expected = route.allowed.includes(name) ? 200 : 403
      t.equal(reply.statusCode, expected, `${route.method} ${route.url} as ${name} → ${expected}`)
      if (expected === 403) t.equal(reply.json().code, 'forbidden')
    }
  }

  const promoted = await app.inject({ method: 'PUT', url: `/api/admin/users/${voter.userId}/roles`, headers: admin.headers, payload: { roles: ['auditor'] } })
  t.same(promoted.json().roles, ['auditor', 'voter'], 'voter is kept for everyone')
  const self = await app.inject({ method: 'PUT', url: `/api/admin/users/${admin.userId}/roles`, headers: admin.headers, payload: { roles: ['voter'] } })
  t.equal(self.statusCode, 409)
  t.equal(self.json().code, 'cannot_demote_self')
  const missing = await app.inject({ method: 'PUT', url: '/api/admin/users/00000000-0000-4000-8000-000000000000/roles', headers: admin.headers, payload: { roles: ['voter'] } })
  t.equal(missing.statusCode, 404)
  const badRole = await app.inject({ method: 'PUT', url: `/api/admin/users/${voter.userId}/roles`, headers: admin.headers, payload: { roles: ['root'] } })
  t.equal(badRole.json().code, 'validation_failed')

  const found = await app.inject({ method: 'GET', url: '/api/admin/users?email=VOTER@example.com', headers: admin.headers })
  t.same(found.json().items.map((u: { id: string }) => u.id), [voter.userId], 'search by email goes through its HMAC')
  const all: string[] = []
  let cursor: string | null = null
  do {
    const reply: import('fastify').LightMyRequestResponse = await app.inject({ method: 'GET', url: `/api/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: admin.headers })
    all.push(...reply.json().items.map((u: { id: string }) => u.id))
    cursor = reply.json().nextCursor
  } while (cursor)
  t.same([...all].sort(), [voter.userId, auditor.userId, admin.userId].sort(), 'pages cover every user once')

  const audit = await app.inject({ method: 'GET', url: `/api/admin/audit?type=user.roles_changed&userId=${voter.userId}`, headers: auditor.headers })
  t.equal(audit.statusCode, 200)
  t.match(audit.json().items, [{ type: 'user.roles_changed', userId: voter.userId, actor: admin.userId, data: { before: 'voter', after: 'auditor,voter' } }])
})
