import t from 'tap'
import { constants, createPublicKey, publicEncrypt, verify } from 'node:crypto'
import { ristretto255 } from '@noble/curves/ed25519.js'
import { build, createTestUser, type TestUser } from '../../helper.js'

const G = ristretto255.Point.BASE
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64')

t.test('/api/security', async (t) => {
  const { app } = await build(t)
  const voter = await createTestUser(app, { roles: ['voter'] })
  const admin = await createTestUser(app, { roles: ['voter', 'admin'] })
  const replies: string[] = []
  const call = async (method: 'GET' | 'POST', url: string, user: TestUser | null, payload?: unknown) => {
    const reply = await app.inject({ method, url, ...(user ? { headers: user.headers } : {}), ...(payload !== undefined ? { payload: payload as object } : {}) })
    replies.push(reply.body)
    return reply
  }
  const post = (url: string, user: TestUser | null, payload?: unknown) => call('POST', `/api/security${url}`, user, payload)

  await t.test('guards: a token for everything, admin for keys, decrypt and sign', async (t) => {
    const routes: Array<['GET' | 'POST', string, boolean]> = [
      ['GET', '/keys', false], ['POST', '/keys', true], ['POST', '/keys/00000000-0000-4000-8000-000000000000/rotate', true],
      ['POST', '/encrypt', false], ['POST', '/decrypt', true], ['POST', '/sign', true], ['POST', '/verify', false], ['POST', '/elgamal/add', false],
    ]
    for (const [method, url, adminOnly] of routes) {
      const anonymous = await call(method, `/api/security${url}`, null, method === 'POST' ? {} : undefined)
      t.equal(anonymous.statusCode, 401, `${url} without a token`)
      t.equal(anonymous.json().code, 'unauthorized')
      if (adminOnly) {
        const refused = await call(method, `/api/security${url}`, voter, { alg: 'Ed25519' })
        t.equal(refused.statusCode, 403, `${url} as a voter`)
        t.equal(refused.json().code, 'forbidden')
      }
    }
  })

  await t.test('keys: list public parts, create, rotate', async (t) => {
    const created = await post('/keys', admin, { alg: 'RSA-OAEP-256' })
    t.equal(created.statusCode, 201)
    const key = created.json()
    t.same(Object.keys(key).sort(), ['alg', 'createdAt', 'id', 'publicKey', 'status', 'use'])
    t.match(key, { alg: 'RSA-OAEP-256', use: 'enc', status: 'active', publicKey: /^-----BEGIN PUBLIC KEY-----/ })
    const rsa = createPublicKey(key.publicKey)
    t.equal(rsa.asymmetricKeyDetails?.modulusLength, 3072, 'RSA keys are 3072-bit')

    const elgamal = (await post('/keys', admin, { alg: 'ELGAMAL-RISTRETTO255' })).json()
    t.match(elgamal.publicKey, /^[0-9a-f]{64}$/, 'ElGamal public key: hex of the ristretto255 point')
    t.match((await post('/keys', admin, { alg: 'Ed25519' })).json(), { alg: 'Ed25519', use: 'sig', publicKey: /^-----BEGIN PUBLIC KEY-----/ })

    const list = await call('GET', '/api/security/keys', voter)
    t.equal(list.statusCode, 200)
    const algs = list.json().map((k: { alg: string }) => k.alg)
    t.ok(algs.includes('EdDSA') && algs.includes('RSA-OAEP-256') && algs.includes('ELGAMAL-RISTRETTO255'))
    t.notOk(algs.includes('A256GCM') || algs.includes('HMAC-SHA256'), 'secret keys are never listed')
    const filtered = (await call('GET', '/api/security/keys?alg=RSA-OAEP-256&status=active', voter)).json()
    t.same(filtered.map((k: { id: string }) => k.id), [key.id])

    const rotated = await post(`/keys/${key.id}/rotate`, admin)
    t.equal(rotated.statusCode, 201)
    t.not(rotated.json().id, key.id)
    t.match(rotated.json(), { alg: 'RSA-OAEP-256', status: 'active' })
    const again = await post(`/keys/${key.id}/rotate`, admin)
    t.equal(again.statusCode, 409)
    t.equal(again.json().code, 'key_not_active')
    t.equal((await post('/keys/00000000-0000-4000-8000-000000000000/rotate', admin)).statusCode, 404)
    t.equal((await post('/keys/nope/rotate', admin)).json().code, 'validation_failed')
    t.equal((await post('/keys', admin, { alg: 'A256GCM' })).json().code, 'validation_failed', 'secret keys are not made over HTTP')
    t.match((await post('/keys', admin, { alg: 'Ed25519', extra: 1 })).json(), { code: 'validation_failed', details: { field: 'body.extra' } })
  })

  await t.test('RSA-OAEP-256: every size class round-trips; a client can encrypt to the published key', async (t) => {
    for (const size of [0, 1, 318, 319, 5000, 32 * 1024]) {
      const data = Buffer.alloc(size, size % 251)
      const encrypted = await post('/encrypt', voter, { alg: 'RSA-OAEP-256', data: b64(data) })
      t.equal(encrypted.statusCode, 200, `size ${size}`)
      const { keyId, alg, ciphertext } = encrypted.json()
      t.equal(alg, 'RSA-OAEP-256')
      t.match(ciphertext, /^[A-Za-z0-9_-]+$/)
      const decrypted = await post('/decrypt', admin, { keyId, ciphertext })
      t.same(decrypted.json(), { data: b64(data) }, `size ${size}: decrypts`)
    }
    const tooLarge = await post('/encrypt', voter, { alg: 'RSA-OAEP-256', data: b64(Buffer.alloc(32 * 1024 + 1)) })
    t.match(tooLarge.json(), { statusCode: 400, code: 'validation_failed', details: { field: 'body.data' } }, 'payloads are capped')
    t.equal((await post('/encrypt', voter, { alg: 'RSA-OAEP-256', data: 'not base64!' })).json().code, 'validation_failed')

    const [published] = (await call('GET', '/api/security/keys?alg=RSA-OAEP-256&status=active', voter)).json()
    const outside = publicEncrypt({ key: published.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('from a client'))
    t.same((await post('/decrypt', admin, { keyId: published.id, ciphertext: outside.toString('base64url') })).json(), { data: b64('from a client') })
  })

  await t.test('decrypt: one answer, decryption_failed, for every malformed or tampered ciphertext', async (t) => {
    const rsa = (await post('/encrypt', voter, { alg: 'RSA-OAEP-256', data: b64('x'.repeat(1000)) })).json()
    const elgamal = (await post('/encrypt', voter, { alg: 'ELGAMAL-RISTRETTO255', value: 7 })).json()
    const otherElGamal = (await post('/keys', admin, { alg: 'ELGAMAL-RISTRETTO255' })).json()
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)
    const cases: Array<[string, string, unknown]> = [
      ['RSA: flipped character in the key block', rsa.keyId, flip(rsa.ciphertext, 20)],
      ['RSA: flipped character in the body', rsa.keyId, flip(rsa.ciphertext, 700)],
      ['RSA: truncated', rsa.keyId, rsa.ciphertext.slice(0, -30)],
      ['RSA: key block only', rsa.keyId, rsa.ciphertext.slice(0, 512)],
      ['RSA: not base64url', rsa.keyId, `${rsa.ciphertext.slice(0, -1)}!`],
      ['RSA: one character', rsa.keyId, 'A'],
      ['RSA key given an ElGamal ciphertext', rsa.keyId, elgamal.ciphertext],
      ['ElGamal: components swapped', elgamal.keyId, { c1: elgamal.ciphertext.c2, c2: elgamal.ciphertext.c1 }],
      ['ElGamal: invalid encoding', elgamal.keyId, { c1: elgamal.ciphertext.c1, c2: `01${'0'.repeat(62)}` }],
      ['ElGamal: not hex', elgamal.keyId, { c1: 'zz', c2: elgamal.ciphertext.c2 }],
      ['ElGamal: identity points', elgamal.keyId, { c1: '0'.repeat(64), c2: G.multiply(1n << 40n).toHex() }],
      ['ElGamal: another key\'s ciphertext', otherElGamal.id, elgamal.ciphertext],
      ['ElGamal key given a string', elgamal.keyId, rsa.ciphertext],
    ]
    for (const [name, keyId, ciphertext] of cases) {
      const reply = await post('/decrypt', admin, { keyId, ciphertext })
      t.same(reply.json(), { statusCode: 400, code: 'decryption_failed', error: 'Bad Request', message: 'The ciphertext could not be decrypted' }, name)
    }
    const signer = (await call('GET', '/api/security/keys?alg=Ed25519&status=active', voter)).json()[0]
    t.equal((await post('/decrypt', admin, { keyId: signer.id, ciphertext: rsa.ciphertext })).json().code, 'key_algorithm_mismatch')
    t.equal((await post('/decrypt', admin, { keyId: '00000000-0000-4000-8000-000000000000', ciphertext: rsa.ciphertext })).statusCode, 404)
  })

  await t.test('ElGamal: integers round-trip, the published key works client-side, sums add up', async (t) => {
    for (const value of [0, 1, 10_000_000]) {
      const { keyId, alg, ciphertext } = (await post('/encrypt', voter, { alg: 'ELGAMAL-RISTRETTO255', value })).json()
      t.equal(alg, 'ELGAMAL-RISTRETTO255')
      t.match(ciphertext, { c1: /^[0-9a-f]{64}$/, c2: /^[0-9a-f]{64}$/ })
      t.same((await post('/decrypt', admin, { keyId, ciphertext })).json(), { value }, `value ${value}`)
    }
    for (const value of [-1, 2 ** 30, 1.5, '5']) {
      const reply = (await post('/encrypt', voter, { alg: 'ELGAMAL-RISTRETTO255', value })).json()
      t.match(reply, { code: 'validation_failed', details: { field: 'body.value' } }, `value ${JSON.stringify(value)} is named in the error`)
    }

    const [published] = (await call('GET', '/api/security/keys?alg=ELGAMAL-RISTRETTO255&status=active', voter)).json()
    const X = ristretto255.Point.fromHex(published.publicKey)
    const r = 123_456_789n
    const clientSide = { c1: G.multiply(r).toHex(), c2: G.multiply(5n).add(X.multiply(r)).toHex() }
    const ballots = [1, 0, 1, 1]
    const encrypted = []
    for (const value of ballots) encrypted.push((await post('/encrypt', voter, { alg: 'ELGAMAL-RISTRETTO255', value })).json().ciphertext)
    const sum = await post('/elgamal/add', voter, { keyId: published.id, ciphertexts: [...encrypted, clientSide] })
    t.equal(sum.statusCode, 200)
    const expected = [...encrypted, clientSide].reduce((acc, c) => ({
      c1: acc.c1.add(ristretto255.Point.fromHex(c.c1)), c2: acc.c2.add(ristretto255.Point.fromHex(c.c2)),
    }), { c1: ristretto255.Point.ZERO, c2: ristretto255.Point.ZERO })
    t.same(sum.json(), { ciphertext: { c1: expected.c1.toHex(), c2: expected.c2.toHex() } }, 'the sum is the component-wise group sum')
    t.same((await post('/decrypt', admin, { keyId: published.id, ciphertext: sum.json().ciphertext })).json(), { value: 3 + 5 })

    const invalid = await post('/elgamal/add', voter, { keyId: published.id, ciphertexts: [encrypted[0], { c1: encrypted[1].c1, c2: `01${'0'.repeat(62)}` }] })
    t.match(invalid.json(), { statusCode: 400, code: 'invalid_ciphertext', details: { index: 1 } }, 'invalid ristretto255 encodings are rejected')
    t.equal((await post('/elgamal/add', voter, { keyId: published.id, ciphertexts: [] })).json().code, 'validation_failed')
    t.equal((await post('/elgamal/add', voter, { keyId: published.id, ciphertexts: Array(101).fill(encrypted[0]) })).json().code, 'validation_failed')
    t.equal((await post('/elgamal/add', voter, { keyId: published.id, ciphertexts: [{ ...encrypted[0], c3: 'x' }] })).json().code, 'validation_failed')
  })

  await t.test('signatures from the API verify with plain node:crypto and the published key', async (t) => {
    const data = Buffer.from('the tally is 42')
    for (const alg of [undefined, 'Ed25519', 'RSA-PSS-SHA256'] as const) {
      const signed = await post('/sign', admin, { data: b64(data), ...(alg ? { alg } : {}) })
      t.equal(signed.statusCode, 200)
      const { keyId, alg: used, signature } = signed.json()
      t.equal(used, alg ?? 'Ed25519')
      const published = (await call('GET', '/api/security/keys', voter)).json().find((k: { id: string }) => k.id === keyId)
      const key = createPublicKey(published.publicKey)
      const raw = Buffer.from(signature, 'base64url')
      const ok = used === 'Ed25519'
        ? verify(null, data, key, raw)
        : verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, raw)
      t.ok(ok, `${used}: node:crypto accepts it`)
      t.same((await post('/verify', voter, { keyId, data: b64(data), signature })).json(), { valid: true })
      t.same((await post('/verify', voter, { keyId, data: b64('the tally is 43'), signature })).json(), { valid: false })
      t.same((await post('/verify', voter, { keyId, data: b64(data), signature: 'AAAA' })).json(), { valid: false })
    }
    const tokenKey = (await call('GET', '/api/security/keys?alg=EdDSA', voter)).json()[0]
    t.equal((await post('/verify', voter, { keyId: tokenKey.id, data: b64(data), signature: 'AAAA' })).json().code, 'key_algorithm_mismatch')
  })

  await t.test('JWKS: public, cacheable, and it verifies the access tokens', async (t) => {
    const reply = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    t.equal(reply.statusCode, 200)
    t.match(reply.headers['cache-control'], /public, max-age=\d+/)
    const [header, , ] = voter.token.split('.')
    const { kid } = JSON.parse(Buffer.from(header!, 'base64url').toString())
    const jwk = reply.json().keys.find((k: { kid: string }) => k.kid === kid)
    t.match(jwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    t.same(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'no private member (d)')
    const [h, p, s] = voter.token.split('.')
    t.ok(verify(null, Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s!, 'base64url')))
    replies.push(reply.body)
  })

  await t.test('OpenAPI describes every route under the security tag', async (t) => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    const expected = {
      '/api/security/keys': ['get', 'post'], '/api/security/keys/{id}/rotate': ['post'], '/api/security/encrypt': ['post'],
      '/api/security/decrypt': ['post'], '/api/security/sign': ['post'], '/api/security/verify': ['post'],
      '/api/security/elgamal/add': ['post'], '/.well-known/jwks.json': ['get'],
    }
    for (const [path, methods] of Object.entries(expected)) {
      for (const method of methods) {
        const operation = doc.paths[path]?.[method]
        t.ok(operation, `${method} ${path}`)
        t.same(operation?.tags, ['security'])
        t.ok(operation?.responses?.['200'] ?? operation?.responses?.['201'], `${method} ${path}: success response schema`)
      }
    }
  })

  t.test('no reply ever carried private key material', async (t) => {
    const all = replies.join('\n')
    t.notMatch(all, /PRIVATE KEY/)
    t.notMatch(all, /"d"\s*:/)
    const stored = await app.crypto.keys.active('EdDSA')
    if (stored.material.kind === 'ed25519') {
      const d = stored.material.privateKey.export({ format: 'jwk' }).d!
      t.notOk(all.includes(d), 'the token key\'s private scalar never appears')
    }
  })
})

t.test('the routes doing public-key work have their own per-minute limit', async (t) => {
  const { app } = await build(t)
  const user = await createTestUser(app)
  const { keyId, signature } = await app.crypto.operations.sign(Buffer.from('x'))
  const payload = { keyId, data: b64('x'), signature: signature.toString('base64url') }
  let limited: Awaited<ReturnType<typeof app.inject>> | null = null
  for (let i = 0; i < 200 && !limited; i++) {
    const reply = await app.inject({ method: 'POST', url: '/api/security/verify', headers: user.headers, payload })
    if (reply.statusCode === 429) limited = reply
    else t.equal(reply.statusCode, 200)
  }
  t.ok(limited, 'refused well before the general limit')
  t.equal(limited?.json().code, 'rate_limited')
  t.ok(Number(limited?.headers['retry-after']) > 0)
  t.equal((await app.inject({ method: 'GET', url: '/api/security/keys', headers: user.headers })).statusCode, 200, 'other routes are unaffected')
})
