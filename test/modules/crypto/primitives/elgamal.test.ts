import t from 'tap'
import fc from 'fast-check'
import { ristretto255 } from '@noble/curves/ed25519.js'
import {
  addCiphertexts, assertEncryptable, decodeElement, decryptValue, discreteLog, ELGAMAL_VALUE_LIMIT, encodeElement,
  encryptValue, generateElGamalKey, InvalidEncoding, scalarFromBytes, scalarToBytes,
} from '../../../../src/modules/crypto/primitives/elgamal.js'

const G = ristretto255.Point.BASE

// RFC 9496, Appendix A.1: encodings of k·B for k = 0 … 15.
const MULTIPLES_OF_GENERATOR = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76',
  '6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919',
  '94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259',
  'da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57',
  'e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e',
  'f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403',
  '44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d',
  '903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c',
  '02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031',
  '20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f',
  'bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42',
  'e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460',
  'aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f',
  '46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e',
  'e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e',
]

// RFC 9496, Appendix A.2 (a selection): non-canonical field encodings, negative field elements,
// non-square x², negative xy, and encodings with the high bit set.
const BAD_ENCODINGS = [
  '00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20',
  '26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371',
  '4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f',
  'de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b',
  '3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e',
  'a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
]

t.test('RFC 9496 known answers: small multiples of the generator', async (t) => {
  let point = ristretto255.Point.ZERO
  MULTIPLES_OF_GENERATOR.forEach((expected, k) => {
    t.equal(encodeElement(point), expected, `encode ${k}·B`)
    t.ok(decodeElement(expected).equals(point), `decode ${k}·B`)
    t.equal(encodeElement(decodeElement(expected.toUpperCase())), expected, `upper-case hex of ${k}·B decodes to the same element`)
    point = point.add(G)
  })
})

t.test('RFC 9496 bad encodings and malformed hex are rejected', async (t) => {
  for (const hex of BAD_ENCODINGS) t.throws(() => decodeElement(hex), InvalidEncoding, hex)
  for (const hex of ['', '00', 'zz'.repeat(32), '0'.repeat(63), '0'.repeat(66), ` ${'0'.repeat(63)}`]) {
    t.throws(() => decodeElement(hex), InvalidEncoding, JSON.stringify(hex))
  }
})

t.test('scalars round-trip and out-of-range scalars are refused', async (t) => {
  const { secret } = generateElGamalKey()
  t.equal(scalarFromBytes(scalarToBytes(secret)), secret)
  t.throws(() => scalarFromBytes(Buffer.alloc(32)), InvalidEncoding, 'zero')
  t.throws(() => scalarFromBytes(Buffer.alloc(32, 0xff)), InvalidEncoding, 'not below the group order')
  t.throws(() => scalarFromBytes(Buffer.alloc(31, 1)), InvalidEncoding, 'wrong length')
})

t.test('values round-trip at every size class up to the bound', async (t) => {
  const { secret, publicKey } = generateElGamalKey()
  for (const value of [0, 1, 2, 1000, 65_535, 65_536, 10_000_000, 123_456_789, ELGAMAL_VALUE_LIMIT - 1]) {
    t.equal(await decryptValue(secret, encryptValue(publicKey, BigInt(value))), value, `value ${value}`)
  }
  t.ok(ELGAMAL_VALUE_LIMIT >= 10_000_000, 'the bound covers at least 10^7')
})

t.test('encryption is randomised: equal values give unrelated ciphertexts', async (t) => {
  const { publicKey } = generateElGamalKey()
  const a = encryptValue(publicKey, 7n)
  const b = encryptValue(publicKey, 7n)
  t.not(encodeElement(a.c1), encodeElement(b.c1))
  t.not(encodeElement(a.c2), encodeElement(b.c2))
})

t.test('values outside the range are refused on encryption and not recovered on decryption', async (t) => {
  const { secret, publicKey } = generateElGamalKey()
  t.throws(() => assertEncryptable(-1n), RangeError)
  t.throws(() => assertEncryptable(BigInt(ELGAMAL_VALUE_LIMIT)), RangeError)
  t.throws(() => encryptValue(publicKey, BigInt(ELGAMAL_VALUE_LIMIT)), RangeError)
  const overflow = addCiphertexts([encryptValue(publicKey, BigInt(ELGAMAL_VALUE_LIMIT - 1)), encryptValue(publicKey, 1n)])
  t.equal(await decryptValue(secret, overflow), null, 'a sum at the bound is reported as not recoverable')
  t.equal(await discreteLog(G.multiply(BigInt(ELGAMAL_VALUE_LIMIT) + 5n)), null)
})

t.test('a ciphertext under another key does not yield the value', async (t) => {
  const alice = generateElGamalKey()
  const bob = generateElGamalKey()
  const result = await decryptValue(bob.secret, encryptValue(alice.publicKey, 42n))
  t.not(result, 42)
})

t.test('homomorphic property: the sum of ciphertexts decrypts to the sum of values', async (t) => {
  const { secret, publicKey } = generateElGamalKey()
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 0, max: 2_000_000 }), { minLength: 1, maxLength: 6 }),
    async (values) => {
      const sum = values.reduce((a, b) => a + b, 0)
      const total = addCiphertexts(values.map((value) => encryptValue(publicKey, BigInt(value))))
      return (await decryptValue(secret, total)) === sum
    },
  ), { numRuns: 15 })
  // Tally-shaped: many 0/1 ballots.
  const ballots = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 1 : 0))
  const tally = addCiphertexts(ballots.map((b) => encryptValue(publicKey, BigInt(b))))
  t.equal(await decryptValue(secret, tally), ballots.filter((b) => b === 1).length)
  t.same(encodeElement(addCiphertexts([]).c1), MULTIPLES_OF_GENERATOR[0], 'the empty sum is the identity')
})
