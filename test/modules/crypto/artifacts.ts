import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { createTestUser } from '../../helper.js'

/**
 * Things made under one master key that must survive its rotation: an ElGamal ciphertext, an Ed25519
 * signature, a sealed field, a lookup hash and an access token; with `rsa`, also RSA ciphertext and
 * signature (each RSA key takes a second or more to make).
 */
export async function makeArtifacts(app: FastifyInstance, options: { rsa?: boolean } = {}) {
  const elgamal = await app.crypto.operations.encryptValue(1234)
  const signed = await app.crypto.operations.sign(Buffer.from('signed'))
  const sealed = await app.crypto.seal('ada@example.com', 'users.email')
  const hash = app.crypto.lookupHash('ada@example.com', 'users.email')
  const user = await createTestUser(app)
  const rsa = options.rsa
    ? {
        encrypted: await app.crypto.operations.encryptData(Buffer.from('x'.repeat(2000))),
        signed: await app.crypto.operations.sign(Buffer.from('signed'), 'RSA-PSS-SHA256'),
      }
    : null
  return { elgamal, signed, sealed, hash, user, rsa }
}

export type Artifacts = Awaited<ReturnType<typeof makeArtifacts>>

export async function checkArtifacts(t: Test, app: FastifyInstance, artifacts: Artifacts): Promise<void> {
  const { elgamal, signed, sealed, hash, user, rsa } = artifacts
  const { operations } = app.crypto
  t.same(await operations.decrypt(elgamal.keyId, elgamal.ciphertext), { alg: 'ELGAMAL-RISTRETTO255', value: 1234 }, 'ElGamal ciphertext decrypts')
  t.ok(await operations.verify(signed.keyId, Buffer.from('signed'), signed.signature), 'Ed25519 signature verifies')
  t.equal(await app.crypto.open(sealed, 'users.email'), 'ada@example.com', 'sealed field opens')
  t.equal(app.crypto.lookupHash('ada@example.com', 'users.email'), hash, 'lookup hashes are unchanged')
  t.equal((await app.tokens.verifyAccessToken(user.token)).userId, user.userId, 'access tokens issued before still verify')
  if (rsa) {
    t.same(await operations.decrypt(rsa.encrypted.keyId, rsa.encrypted.ciphertext.toString('base64url')),
      { alg: 'RSA-OAEP-256', data: Buffer.from('x'.repeat(2000)) }, 'RSA ciphertext decrypts')
    t.ok(await operations.verify(rsa.signed.keyId, Buffer.from('signed'), rsa.signed.signature), 'RSA-PSS signature verifies')
  }
}
