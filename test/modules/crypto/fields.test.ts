import t from 'tap'
import { FieldDecryptionError } from '../../../src/modules/crypto/fields.js'
import { build, openTestDatabase } from '../../helper.js'

t.test('sealed values open in their own context only', async (t) => {
  const { app } = await build(t)
  const { crypto } = app
  const dataKey = await crypto.keys.active('A256GCM')
  for (const value of ['ada@example.com', '', 'Zoë — ☃ — 𝄞', 'x'.repeat(10_000)]) {
    const sealed = await crypto.seal(value, 'users.email')
    t.match(sealed, new RegExp(`^v1\\.${dataKey.id}\\.[A-Za-z0-9_-]+$`), 'v1.<keyId>.<base64url>')
    if (value.length > 3) t.notOk(sealed.includes(value), 'no clear text inside')
    t.equal(await crypto.open(sealed, 'users.email'), value)
  }
  const sealed = await crypto.seal('ada@example.com', 'users.email')
  t.not(await crypto.seal('ada@example.com', 'users.email'), sealed, 'randomised')
  await t.rejects(crypto.open(sealed, 'users.phone'), FieldDecryptionError, 'moved to another column')
  const body = sealed.split('.')[2]!
  const tampered = `${sealed.slice(0, -body.length)}${body.slice(0, 10)}${body[10] === 'A' ? 'B' : 'A'}${body.slice(11)}`
  await t.rejects(crypto.open(tampered, 'users.email'), FieldDecryptionError, 'tampered')
  await t.rejects(crypto.open('ada@example.com', 'users.email'), FieldDecryptionError, 'clear text')
  await t.rejects(crypto.open(sealed.replace(dataKey.id, '00000000-0000-4000-8000-000000000000'), 'users.email'), FieldDecryptionError, 'unknown key')
  const macKey = await crypto.keys.active('HMAC-SHA256')
  await t.rejects(crypto.open(sealed.replace(dataKey.id, macKey.id), 'users.email'), FieldDecryptionError, 'a key that is not a data key')
  await t.rejects(crypto.seal('x', ''), RangeError, 'a context is required')

  t.same(await crypto.openJson(await crypto.sealJson({ gender: 'f', birthDate: '1815-12-10' }, 'user_profiles.demographics'), 'user_profiles.demographics'),
    { gender: 'f', birthDate: '1815-12-10' })
})

t.test('after a data-key rotation old values still open and new ones use the new key', async (t) => {
  const { app } = await build(t)
  const { crypto } = app
  const old = await crypto.seal('before', 'users.phone')
  const oldKey = old.split('.')[1]
  const rotated = await crypto.keys.rotate(oldKey!)
  const fresh = await crypto.seal('after', 'users.phone')
  t.equal(fresh.split('.')[1], rotated.id)
  t.equal(await crypto.open(old, 'users.phone'), 'before')
  t.equal(await crypto.open(fresh, 'users.phone'), 'after')
})

t.test('lookup hashes: deterministic per installation and context, compared in constant time', async (t) => {
  const { app } = await build(t)
  const { crypto } = app
  const hash = crypto.lookupHash('ada@example.com', 'users.email')
  t.match(hash, /^[A-Za-z0-9_-]{43}$/)
  t.equal(crypto.lookupHash('ada@example.com', 'users.email'), hash)
  t.not(crypto.lookupHash('ada@example.com', 'otp'), hash, 'contexts are separated')
  t.not(crypto.lookupHash('Ada@example.com', 'users.email'), hash, 'no normalisation: the caller normalises')
  t.ok(crypto.lookupHashMatches('ada@example.com', 'users.email', hash))
  t.notOk(crypto.lookupHashMatches('bob@example.com', 'users.email', hash))
  t.notOk(crypto.lookupHashMatches('ada@example.com', 'users.email', hash.slice(1)))

  // Another installation (its own MAC key) gives other hashes: they are useless without the key.
  const elsewhere = await build(t, { database: await openTestDatabase(t) })
  t.not(elsewhere.app.crypto.lookupHash('ada@example.com', 'users.email'), hash)
})
