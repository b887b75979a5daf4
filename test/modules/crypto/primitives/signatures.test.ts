import t from 'tap'
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import { PSS_SALT_BYTES, signData, verifyData } from '../../../../src/modules/crypto/primitives/signatures.js'

// RFC 8032, section 7.1, TEST 1 to TEST 3.
const RFC8032 = [
  {
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

const b64url = (hex: string) => Buffer.from(hex, 'hex').toString('base64url')

t.test('Ed25519 known answers (RFC 8032 tests 1–3)', async (t) => {
  for (const [i, vector] of RFC8032.entries()) {
    const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(vector.secret), x: b64url(vector.public) }, format: 'jwk' })
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(vector.public) }, format: 'jwk' })
    const message = Buffer.from(vector.message, 'hex')
    const signature = signData('Ed25519', privateKey, message)
    t.equal(signature.toString('hex'), vector.signature, `TEST ${i + 1}: signature`)
    t.ok(verifyData('Ed25519', publicKey, message, signature), `TEST ${i + 1}: verifies`)
    t.notOk(verifyData('Ed25519', publicKey, Buffer.concat([message, Buffer.from([0])]), signature), `TEST ${i + 1}: another message does not`)
    const bent = Buffer.from(signature)
    bent[10]! ^= 0x40
    t.notOk(verifyData('Ed25519', publicKey, message, bent), `TEST ${i + 1}: a bent signature does not`)
  }
})

t.test('RSA-PSS-SHA256: round trip, checked by node:crypto with the documented parameters', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 })
  const data = Buffer.from('the tally is 42')
  const signature = signData('RSA-PSS-SHA256', privateKey, data)
  t.equal(signature.length, 384)
  t.ok(verifyData('RSA-PSS-SHA256', publicKey, data, signature))
  t.ok(verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_BYTES }, signature))
  t.not(signData('RSA-PSS-SHA256', privateKey, data).toString('hex'), signature.toString('hex'), 'PSS is randomised')
  t.notOk(verifyData('RSA-PSS-SHA256', publicKey, Buffer.from('the tally is 43'), signature))
})

t.test('malformed signatures and mismatched keys are simply invalid', async (t) => {
  const ed = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const data = Buffer.from('x')
  const edSignature = signData('Ed25519', ed.privateKey, data)
  t.notOk(verifyData('Ed25519', ed.publicKey, data, Buffer.alloc(0)))
  t.notOk(verifyData('Ed25519', ed.publicKey, data, edSignature.subarray(1)))
  t.notOk(verifyData('Ed25519', rsa.publicKey, data, edSignature), 'an RSA key with the Ed25519 algorithm')
  t.notOk(verifyData('RSA-PSS-SHA256', ed.publicKey, data, edSignature), 'an Ed25519 key with RSA-PSS')
  t.notOk(verifyData('RSA-PSS-SHA256', rsa.publicKey, data, Buffer.alloc(256, 1)))
})
