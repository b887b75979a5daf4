import t from 'tap'
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto'
import { oaepCapacity, RsaDecryptionFailure, rsaOaepDecrypt, rsaOaepEncrypt, RSA_MODULUS_BITS } from '../../../../src/modules/crypto/primitives/rsa.js'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS })
const other = generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS })
const K = RSA_MODULUS_BITS / 8

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff))

t.test('one OAEP block carries k − 2·32 − 2 bytes', async (t) => {
  t.equal(oaepCapacity(publicKey), 318)
})

t.test('round trips in every size class', async (t) => {
  for (const size of [0, 1, 100, 318, 319, 1000, 32 * 1024]) {
    const data = bytes(size)
    const ciphertext = rsaOaepEncrypt(publicKey, data)
    t.equal(ciphertext.length, size <= 318 ? K : K + 12 + size + 16, `size ${size}: ciphertext length`)
    t.same(rsaOaepDecrypt(privateKey, ciphertext), data, `size ${size}: round trip`)
  }
})

t.test('short data is a bare RSA-OAEP-SHA256 block that plain node:crypto decrypts', async (t) => {
  const data = Buffer.from('interoperable')
  const plain = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, rsaOaepEncrypt(publicKey, data))
  t.same(plain, data)
})

t.test('every tampered, truncated or foreign ciphertext fails the same way', async (t) => {
  const short = rsaOaepEncrypt(publicKey, bytes(50))
  const long = rsaOaepEncrypt(publicKey, bytes(2000))
  const flip = (buffer: Buffer, at: number) => {
    const copy = Buffer.from(buffer)
    copy[at]! ^= 0x01
    return copy
  }
  const cases: Record<string, Buffer> = {
    'short: flipped byte': flip(short, 100),
    'short: truncated': short.subarray(0, K - 1),
    'short: extended': Buffer.concat([short, Buffer.alloc(1)]),
    'long: flipped key block': flip(long, 10),
    'long: flipped nonce': flip(long, K + 3),
    'long: flipped body': flip(long, K + 12 + 500),
    'long: flipped tag': flip(long, long.length - 1),
    'long: tag cut off': long.subarray(0, long.length - 16),
    'long: key block alone (wrapped key must not come out as data)': long.subarray(0, K),
    'empty': Buffer.alloc(0),
    'zeros': Buffer.alloc(K),
    'garbage': bytes(K + 40),
  }
  for (const [name, ciphertext] of Object.entries(cases)) t.throws(() => rsaOaepDecrypt(privateKey, ciphertext), RsaDecryptionFailure, name)
  t.throws(() => rsaOaepDecrypt(other.privateKey, short), RsaDecryptionFailure, 'another key, short')
  t.throws(() => rsaOaepDecrypt(other.privateKey, long), RsaDecryptionFailure, 'another key, long')
})
