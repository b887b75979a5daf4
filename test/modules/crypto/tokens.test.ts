import t from 'tap'
import { createPublicKey, randomUUID, verify } from 'node:crypto'
import { openDatabase } from '../../../src/db/client.js'
import { Unauthorized } from '../../../src/errors.js'
import { build, openTestDatabase } from '../../helper.js'

const subject = () => ({ userId: randomUUID(), sessionId: randomUUID(), roles: ['voter'] })
const decodePart = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))

t.test('access tokens carry sub, sid, roles, iss, aud, typ and kid, and verify back to their claims', async (t) => {
  const { app, config } = await build(t)
  const who = { ...subject(), roles: ['voter', 'auditor'] }
  const before = Date.now()
  const issued = await app.tokens.signAccessToken(who)
  t.equal(issued.tokenType, 'Bearer')
  t.equal(issued.expiresIn, config.tokens.accessTtl)
  const [header, payload] = issued.token.split('.').slice(0, 2).map(decodePart)
  const jwtKey = await app.crypto.keys.active('EdDSA')
  t.same(header, { alg: 'EdDSA', typ: 'at+jwt', kid: jwtKey.id })
  t.match(payload, { sub: who.userId, sid: who.sessionId, roles: ['voter', 'auditor'], iss: config.tokens.issuer, aud: config.tokens.audience, jti: issued.tokenId })
  t.equal(payload.exp - payload.iat, config.tokens.accessTtl)
  t.ok(payload.iat * 1000 >= before - 1000 && payload.iat * 1000 <= Date.now())

  const claims = await app.tokens.verifyAccessToken(issued.token)
  t.same({ ...claims }, {
    userId: who.userId, sessionId: who.sessionId, roles: who.roles, tokenId: issued.tokenId, keyId: jwtKey.id,
    issuedAt: new Date(payload.iat * 1000), expiresAt: new Date(payload.exp * 1000),
  })

  // Anyone can check a token with the published key and plain node:crypto.
  const { keys } = await app.tokens.jwks()
  const jwk = keys.find((k) => k.kid === header.kid)!
  const [h, p, s] = issued.token.split('.')
  t.ok(verify(null, Buffer.from(`${h}.${p}`), createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' }), Buffer.from(s!, 'base64url')))
})

t.test("each distinct token's signature is checked once, and revocation is still consulted every time", async (t) => {
  const { app } = await build(t)
  const who = subject()
  const first = await app.tokens.signAccessToken(who)
  const second = await app.tokens.signAccessToken(who)
  const checks = app.tokens.signatureChecks
  for (let i = 0; i < 5; i++) await app.tokens.verifyAccessToken(first.token)
  t.equal(app.tokens.signatureChecks, checks + 1, 'one signature check for five verifications')
  await app.tokens.verifyAccessToken(second.token)
  t.equal(app.tokens.signatureChecks, checks + 2, 'another token is checked on its own')

  app.revokedSessions.add(who.sessionId)
  t.ok(app.revokedSessions.has(who.sessionId))
  await t.rejects(app.tokens.verifyAccessToken(first.token), Unauthorized, 'a cached token of a revoked session is refused')
  await t.rejects(app.tokens.verifyAccessToken(second.token), Unauthorized)
  t.equal((await app.tokens.verifyAccessToken((await app.tokens.signAccessToken(subject())).token)).roles.length, 1, 'other sessions are unaffected')
})

t.test('expired tokens fail, and so do lifetimes beyond the configured one', async (t) => {
  const { app, config } = await build(t)
  const expired = await app.tokens.signAccessToken(subject(), { ttlSeconds: 60, issuedAt: new Date(Date.now() - 120_000) })
  await t.rejects(app.tokens.verifyAccessToken(expired.token), Unauthorized)
  await t.rejects(app.tokens.signAccessToken(subject(), { ttlSeconds: config.tokens.accessTtl + 1 }), RangeError)
  await t.rejects(app.tokens.verifyAccessToken(''), Unauthorized)
  await t.rejects(app.tokens.verifyAccessToken('x'.repeat(10_000)), Unauthorized)
})

t.test('token-key rotation: old tokens live out their time, new ones use the new kid; retiring a key ends its tokens', async (t) => {
  const { app } = await build(t)
  const old = await app.tokens.signAccessToken(subject())
  const oldKid = decodePart(old.token.split('.')[0]!).kid
  await app.tokens.verifyAccessToken(old.token)
  const rotated = await app.crypto.keys.rotate(oldKid)
  const fresh = await app.tokens.signAccessToken(subject())
  t.equal(decodePart(fresh.token.split('.')[0]!).kid, rotated.id)
  await app.tokens.verifyAccessToken(old.token)
  await app.tokens.verifyAccessToken(fresh.token)
  t.same((await app.tokens.jwks()).keys.map((k) => k.kid).sort(), [oldKid, rotated.id].sort(), 'both keys are published')

  await app.crypto.keys.retire(oldKid)
  await t.rejects(app.tokens.verifyAccessToken(old.token), Unauthorized, 'the remembered verification is dropped with the key')
  await app.tokens.verifyAccessToken(fresh.token)
  t.same((await app.tokens.jwks()).keys.map((k) => k.kid), [rotated.id])
})

t.test('a token signed by another instance with a key this one has not seen yet verifies', async (t) => {
  const database = await openTestDatabase(t)
  const otherHandle = database.url ? await openDatabase({ url: database.url, poolMax: 5 }) : database
  if (database.url) t.teardown(() => otherHandle.close())
  const a = await build(t, { database })
  const b = await build(t, { database: otherHandle })
  const current = await a.app.crypto.keys.active('EdDSA')
  // b rotates; a may not have heard yet, but finds the kid in the database.
  await b.app.crypto.keys.rotate(current.id)
  const token = await b.app.tokens.signAccessToken(subject())
  t.ok(await a.app.tokens.verifyAccessToken(token.token))
})
