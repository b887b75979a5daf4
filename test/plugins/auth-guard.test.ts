import t from 'tap'
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { build, createTestUser } from '../helper.js'

const register = (app: FastifyInstance) => {
  app.get('/api/test/me', { onRequest: app.authenticate }, async (request) => ({ auth: request.auth }))
  app.get('/api/test/admin', { onRequest: app.requireRole('admin') }, async (request) => ({ userId: request.auth!.userId }))
  app.get('/api/test/staff', { onRequest: [app.authenticate, app.requireRole('admin', 'auditor')] }, async () => ({ ok: true }))
  app.get('/api/test/maybe', { onRequest: app.authenticateOptional }, async (request) => ({ signedIn: request.auth !== null }))
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT assembled by hand, so every field can be wrong on purpose. */
function jwt(header: Record<string, unknown>, payload: Record<string, unknown>, signer: (input: Buffer) => Buffer): string {
  const input = `${part(header)}.${part(payload)}`
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`
}

const ed25519 = (key: KeyObject) => (input: Buffer) => sign(null, input, key)

t.test('the guard answers 401 unauthorized to every token that is not a valid, current access token', async (t) => {
  const { app, config } = await build(t, { register })
  const user = await createTestUser(app, { roles: ['voter'] })
  const jwtKey = await app.crypto.keys.active('EdDSA')
  if (jwtKey.material.kind !== 'ed25519') throw new Error('unexpected token key')
  const realKey = ed25519(jwtKey.material.privateKey)
  const now = Math.floor(Date.now() / 1000)
  const header = { alg: 'EdDSA', typ: 'at+jwt', kid: jwtKey.id }
  const claims = {
    iss: config.tokens.issuer, aud: config.tokens.audience, sub: user.userId, sid: user.sessionId,
    roles: ['voter'], jti: randomUUID(), iat: now, exp: now + 300,
  }

  const positive = jwt(header, claims, realKey)
  const ok = await app.inject({ method: 'GET', url: '/api/test/me', headers: { authorization: `Bearer ${positive}` } })
  t.equal(ok.statusCode, 200, 'the hand-made token with every field right is accepted (the cases below differ in one thing)')
  t.match(ok.json().auth, { userId: user.userId, sessionId: user.sessionId, roles: ['voter'], keyId: jwtKey.id })

  const stranger = generateKeyPairSync('ed25519')
  const signingKey = await app.crypto.keys.active('Ed25519')
  const [body, signature] = positive.split('.').slice(1)
  const tamperedPayload = part({ ...claims, roles: ['voter', 'admin'] })
  const cases: Record<string, string> = {
    'alg none, no signature': `${part({ ...header, alg: 'none' })}.${part(claims)}.`,
    'alg none with the real signature': `${part({ ...header, alg: 'none' })}.${body}.${signature}`,
    'HS256 keyed with the public key': jwt({ ...header, alg: 'HS256' }, claims,
      (input) => createHmac('sha256', jwtKey.publicKey!).update(input).digest()),
    'wrong aud': jwt(header, { ...claims, aud: 'someone-else' }, realKey),
    'wrong iss': jwt(header, { ...claims, iss: 'https://evil.example' }, realKey),
    'wrong typ (JWT)': jwt({ ...header, typ: 'JWT' }, claims, realKey),
    'no typ': jwt({ alg: 'EdDSA', kid: jwtKey.id }, claims, realKey),
    'expired': jwt(header, { ...claims, iat: now - 900, exp: now - 300 }, realKey),
    'tampered payload': `${part(header)}.${tamperedPayload}.${signature}`,
    'tampered signature': `${part(header)}.${body}.${signature!.slice(0, -4)}AAAA`,
    'unknown kid': jwt({ ...header, kid: randomUUID() }, claims, ed25519(stranger.privateKey)),
    'no kid': jwt({ alg: 'EdDSA', typ: 'at+jwt' }, claims, realKey),
    'kid of the general Ed25519 signing key (signs anything for admins)': jwt({ ...header, kid: signingKey.id }, claims,
      (input) => sign(null, input, (signingKey.material as { privateKey: KeyObject }).privateKey)),
    'no sid': jwt(header, { ...claims, sid: undefined }, realKey),
    'roles not a list': jwt(header, { ...claims, roles: 'admin' }, realKey),
    'garbage': 'not-a-jwt',
    'two segments': `${part(header)}.${part(claims)}`,
  }
  for (const [name, token] of Object.entries(cases)) {
    const reply = await app.inject({ method: 'GET', url: '/api/test/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(reply.statusCode, 401, name)
    t.same(reply.json(), { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'A valid access token is required' }, `${name}: body`)
    t.equal(reply.headers['www-authenticate'], 'Bearer error="invalid_token"', `${name}: challenge`)
  }

  for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'Token abc']) {
    const reply = await app.inject({ method: 'GET', url: '/api/test/me', headers: authorization ? { authorization } : {} })
    t.equal(reply.statusCode, 401, `authorization: ${authorization}`)
    t.equal(reply.json().code, 'unauthorized')
    t.match(reply.headers['www-authenticate'], /^Bearer/)
  }

  const lowerCase = await app.inject({ method: 'GET', url: '/api/test/me', headers: { authorization: `bearer ${user.token}` } })
  t.equal(lowerCase.statusCode, 200, 'the scheme is case-insensitive')
})

t.test('a revoked session ends its access tokens at once', async (t) => {
  const { app } = await build(t, { register })
  const user = await createTestUser(app)
  t.equal((await app.inject({ method: 'GET', url: '/api/test/me', headers: user.headers })).statusCode, 200)
  app.revokedSessions.add(user.sessionId)
  const reply = await app.inject({ method: 'GET', url: '/api/test/me', headers: user.headers })
  t.equal(reply.statusCode, 401)
  t.equal(reply.json().code, 'unauthorized')
})

t.test('roles: 403 forbidden without one of the required roles', async (t) => {
  const { app } = await build(t, { register })
  const voter = await createTestUser(app, { roles: ['voter'] })
  const auditor = await createTestUser(app, { roles: ['voter', 'auditor'] })
  const admin = await createTestUser(app, { roles: ['voter', 'admin'] })

  const denied = await app.inject({ method: 'GET', url: '/api/test/admin', headers: voter.headers })
  t.equal(denied.statusCode, 403)
  t.same(denied.json(), { statusCode: 403, code: 'forbidden', error: 'Forbidden', message: 'You do not have permission to do this' })
  t.equal((await app.inject({ method: 'GET', url: '/api/test/admin', headers: admin.headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/api/test/admin' })).statusCode, 401, 'requireRole alone also authenticates')
  t.equal((await app.inject({ method: 'GET', url: '/api/test/staff', headers: auditor.headers })).statusCode, 200, 'any one of the roles')
  t.equal((await app.inject({ method: 'GET', url: '/api/test/staff', headers: voter.headers })).statusCode, 403)
})

t.test('the optional guard identifies when it can and never refuses', async (t) => {
  const { app } = await build(t, { register })
  const user = await createTestUser(app)
  t.same((await app.inject({ method: 'GET', url: '/api/test/maybe', headers: user.headers })).json(), { signedIn: true })
  t.same((await app.inject({ method: 'GET', url: '/api/test/maybe' })).json(), { signedIn: false })
  t.same((await app.inject({ method: 'GET', url: '/api/test/maybe', headers: { authorization: 'Bearer nonsense' } })).json(), { signedIn: false })
})
