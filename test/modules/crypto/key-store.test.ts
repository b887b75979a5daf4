import t from 'tap'
import { and, eq } from 'drizzle-orm'
import { openDatabase, type DatabaseHandle } from '../../../src/db/client.js'
import { cryptoKeys } from '../../../src/db/schema/index.js'
import { KeyAlgorithmMismatch, KeyNotActive, KeyNotRotatable, KeyRetired } from '../../../src/modules/crypto/errors.js'
import { NotFound } from '../../../src/errors.js'
import { build, openTestDatabase } from '../../helper.js'

type Tap = { teardown(fn: () => unknown): void }

/** A second connection to the same database, as a second instance would have (PGlite: the same one). */
async function secondHandle(t: Tap, database: DatabaseHandle & { url?: string }): Promise<DatabaseHandle> {
  if (!database.url) return database
  const handle = await openDatabase({ url: database.url, poolMax: 5 })
  t.teardown(() => handle.close())
  return handle
}

async function activeRows(database: DatabaseHandle, alg: string) {
  return database.db.select().from(cryptoKeys).where(and(eq(cryptoKeys.alg, alg), eq(cryptoKeys.status, 'active')))
}

/** Waits (bounded) for a condition another instance brings about through NOTIFY. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`never happened: ${what}`)
}

t.test('keys are made on first need: the token, data and MAC keys at start, the others when used', async (t) => {
  const { app, database } = await build(t)
  const algs = (await database.db.select({ alg: cryptoKeys.alg }).from(cryptoKeys)).map((r) => r.alg).sort()
  t.same(algs, ['A256GCM', 'EdDSA', 'HMAC-SHA256'])
  const first = await app.crypto.keys.active('ELGAMAL-RISTRETTO255')
  const again = await app.crypto.keys.active('ELGAMAL-RISTRETTO255')
  t.equal(again.id, first.id)
  t.equal((await activeRows(database, 'ELGAMAL-RISTRETTO255')).length, 1)
  const [concurrentA, concurrentB] = await Promise.all([app.crypto.keys.active('Ed25519'), app.crypto.keys.active('Ed25519')])
  t.equal(concurrentA.id, concurrentB.id, 'concurrent first uses in one process share one generation')
  t.equal((await activeRows(database, 'Ed25519')).length, 1)
})

t.test('two instances starting at once on an empty database end with one active key per algorithm', async (t) => {
  const database = await openTestDatabase(t)
  const other = await secondHandle(t, database)
  const [a, b] = await Promise.all([build(t, { database }), build(t, { database: other })])
  for (const alg of ['EdDSA', 'A256GCM', 'HMAC-SHA256']) t.equal((await activeRows(database, alg)).length, 1, alg)
  const [ka, kb] = await Promise.all([a.app.crypto.keys.active('RSA-OAEP-256'), b.app.crypto.keys.active('RSA-OAEP-256')])
  t.equal(ka.id, kb.id, 'both instances use the one RSA key')
  t.equal((await activeRows(database, 'RSA-OAEP-256')).length, 1)
  t.equal(a.app.crypto.lookupHash('ada@example.com', 'users.email'), b.app.crypto.lookupHash('ada@example.com', 'users.email'), 'one MAC key')
})

t.test('rotation: new work uses the new key; the old one keeps decrypting and verifying', async (t) => {
  const { app } = await build(t)
  const { keys, operations } = app.crypto
  const rsa = await operations.encryptData(Buffer.from('before rotation'))
  const elgamal = await operations.encryptValue(41)
  const signed = await operations.sign(Buffer.from('signed before'), 'RSA-PSS-SHA256')

  const newRsa = await keys.rotate(rsa.keyId)
  const newElGamal = await keys.rotate(elgamal.keyId)
  const newSigner = await keys.rotate(signed.keyId)
  t.not(newRsa.id, rsa.keyId)
  t.equal((await keys.get(rsa.keyId))!.status, 'rotated')
  t.equal(newRsa.status, 'active')

  t.same((await operations.decrypt(rsa.keyId, rsa.ciphertext.toString('base64url'))), { alg: 'RSA-OAEP-256', data: Buffer.from('before rotation') })
  t.same(await operations.decrypt(elgamal.keyId, elgamal.ciphertext), { alg: 'ELGAMAL-RISTRETTO255', value: 41 })
  t.ok(await operations.verify(signed.keyId, Buffer.from('signed before'), signed.signature))

  t.equal((await operations.encryptData(Buffer.from('x'))).keyId, newRsa.id)
  t.equal((await operations.encryptValue(1)).keyId, newElGamal.id)
  t.equal((await operations.sign(Buffer.from('x'), 'RSA-PSS-SHA256')).keyId, newSigner.id)
  await t.rejects(operations.encryptData(Buffer.from('x'), rsa.keyId), KeyNotActive, 'a rotated key takes no new work')
  await t.rejects(keys.rotate(rsa.keyId), KeyNotActive, 'a rotated key cannot be rotated again')

  // Ciphertexts of the old and the new ElGamal key do not mix.
  const sum = await operations.addCiphertexts(newElGamal.id, [elgamal.ciphertext, (await operations.encryptValue(1)).ciphertext])
  await t.rejects(operations.decrypt(newElGamal.id, sum), { code: 'VOTTERY_DECRYPTION_FAILED' })

  const listed = await keys.list({ alg: 'RSA-OAEP-256' })
  t.same(listed.map((k) => [k.id, k.status]), [[newRsa.id, 'active'], [rsa.keyId, 'rotated']])
})

t.test('create makes a new active key and rotates the previous one', async (t) => {
  const { app } = await build(t)
  const before = await app.crypto.keys.active('Ed25519')
  const created = await app.crypto.keys.create('Ed25519')
  t.equal((await app.crypto.keys.active('Ed25519')).id, created.id)
  t.equal((await app.crypto.keys.get(before.id))!.status, 'rotated')
})

t.test('retired keys do nothing at all; secret keys are neither rotated (MAC) nor retired', async (t) => {
  const { app } = await build(t)
  const { keys, operations } = app.crypto
  const signed = await operations.sign(Buffer.from('x'))
  const encrypted = await operations.encryptValue(3)
  await keys.retire(signed.keyId)
  await keys.retire(encrypted.keyId)
  await t.rejects(operations.verify(signed.keyId, Buffer.from('x'), signed.signature), KeyRetired)
  await t.rejects(operations.decrypt(encrypted.keyId, encrypted.ciphertext), KeyRetired)
  await t.rejects(keys.retire(signed.keyId), KeyRetired, 'retiring twice')
  const replacement = await operations.sign(Buffer.from('x'))
  t.not(replacement.keyId, signed.keyId, 'a retired active key is replaced on next use')

  const mac = await keys.active('HMAC-SHA256')
  await t.rejects(keys.rotate(mac.id), KeyNotRotatable)
  await t.rejects(keys.create('HMAC-SHA256'), KeyNotRotatable)
  await t.rejects(keys.retire((await keys.active('A256GCM')).id), KeyNotRotatable)
  await t.rejects(keys.rotate('00000000-0000-4000-8000-000000000000'), NotFound)
  await t.rejects(keys.rotate('not-an-id'), NotFound)
  await t.rejects(operations.verify(encrypted.keyId, Buffer.from('x'), signed.signature), KeyAlgorithmMismatch)
})

t.test('another instance learns of a rotation and a retirement without a restart', async (t) => {
  const database = await openTestDatabase(t)
  const other = await secondHandle(t, database)
  const a = await build(t, { database })
  const b = await build(t, { database: other })
  const original = await b.app.crypto.keys.active('ELGAMAL-RISTRETTO255')
  t.equal((await a.app.crypto.keys.active('ELGAMAL-RISTRETTO255')).id, original.id)

  const rotated = await a.app.crypto.keys.rotate(original.id)
  await eventually(async () => (await b.app.crypto.keys.active('ELGAMAL-RISTRETTO255')).id === rotated.id, 'b uses the rotated-in key')
  t.equal((await b.app.crypto.keys.get(original.id))!.status, 'rotated')

  await a.app.crypto.keys.retire(original.id)
  await eventually(async () => (await b.app.crypto.keys.get(original.id))!.status === 'retired', 'b sees the retirement')
})
