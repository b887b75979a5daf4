import t from 'tap'
import { build, createTestUser } from '../helper.js'

// Found by the schema fuzzer: deeply nested preferences or activity meta reached PostgreSQL and failed there (500).
t.test('deeply nested free-form objects are refused with validation_failed, and nothing is stored', async (t) => {
  const { app, database } = await build(t)
  const ada = await createTestUser(app)
  let deep: Record<string, unknown> = { leaf: true }
  for (let i = 0; i < 200; i++) deep = { a: deep }
  const activity = await app.inject({ method: 'POST', url: '/api/users/activity', headers: ada.headers, payload: { type: 'page.view', meta: deep } })
  t.equal(activity.statusCode, 400)
  t.match(activity.json(), { code: 'validation_failed', details: { field: 'body.meta', rule: 'maxDepth' } })
  const profile = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { preferences: { x: [[[[[[[[[[[]]]]]]]]]]] } } })
  t.equal(profile.statusCode, 400)
  t.match(profile.json(), { code: 'validation_failed', details: { field: 'body.preferences' } })
  const ok = await app.inject({ method: 'PUT', url: '/api/users/profile', headers: ada.headers, payload: { preferences: { a: { b: { c: 1 } } } } })
  t.equal(ok.statusCode, 200, 'ordinary nesting is fine')
  const rows = await database.query('select count(*)::int as n from vottery.activity_log')
  t.equal(Number((rows[0] as { n: number }).n), 0)
})

// Found by the schema fuzzer: a lone UTF-16 surrogate in activity meta reached PostgreSQL's jsonb and failed as a 500.
t.test('lone surrogates are refused like NUL', async (t) => {
  const { app } = await build(t)
  const ada = await createTestUser(app)
  const reply = await app.inject({
    method: 'POST', url: '/api/users/activity', headers: { ...ada.headers, 'content-type': 'application/json' },
    payload: '{"type":"page.view","meta":{"k":"a\\ud800b"}}',
  })
  t.equal(reply.statusCode, 400)
  t.match(reply.json(), { code: 'validation_failed', details: { field: 'body.meta.k' } })
  const paired = await app.inject({ method: 'POST', url: '/api/users/activity', headers: ada.headers, payload: { type: 'page.view', meta: { k: '💥' } } })
  t.equal(paired.statusCode, 201, 'a proper pair (an emoji) is fine')
})
