import { Type, type Static } from 'typebox'
import { IsoTime } from '../../schemas.js'
import { ASYMMETRIC_ALGORITHMS } from './algorithms.js'
import { ELGAMAL_VALUE_LIMIT } from './primitives/elgamal.js'

/** Largest payload accepted for encryption, signing and verification (raw bytes). */
export const MAX_DATA_BYTES = 32 * 1024
/** Ciphertexts summed in one call; each costs two point decodings. */
export const MAX_ADDENDS = 100
const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3)
// Hybrid RSA ciphertext of the largest payload: key block + nonce + data + tag.
const MAX_RSA_CIPHERTEXT_BYTES = 512 + 12 + MAX_DATA_BYTES + 16

const literals = <T extends string>(values: readonly T[], options: Record<string, unknown> = {}) =>
  Type.Union(values.map((value) => Type.Literal(value)), options)

export const KeyId = Type.String({ format: 'uuid', description: 'Key id (UUID)' })
const Algorithm = literals(ASYMMETRIC_ALGORITHMS, { description: '`EdDSA` is the access-token signing key' })
const KeyUse = literals(['enc', 'sig', 'jwt'] as const)
const KeyStatus = literals(['active', 'rotated', 'retired'] as const, {
  description: '`active`: used for new work; `rotated`: still decrypts and verifies; `retired`: withdrawn',
})
const Base64Data = Type.String({
  maxLength: base64Length(MAX_DATA_BYTES),
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
  description: `Standard base64, at most ${MAX_DATA_BYTES} bytes decoded`,
})
const Base64Url = (maxBytes: number, description: string) =>
  Type.String({ minLength: 1, maxLength: base64Length(maxBytes), pattern: '^[A-Za-z0-9_-]+$', description })
const ElementHex = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'Canonical 32-byte ristretto255 encoding, hex' })
const ElGamalCiphertext = Type.Object({ c1: ElementHex, c2: ElementHex }, {
  additionalProperties: false,
  description: 'Exponential ElGamal: c1 = r·G, c2 = m·G + r·X',
})
const RsaCiphertext = Base64Url(MAX_RSA_CIPHERTEXT_BYTES, 'base64url: one RSA-OAEP block, or the block followed by nonce ‖ AES-256-GCM ciphertext ‖ tag')
const SignatureAlgorithm = literals(['Ed25519', 'RSA-PSS-SHA256'] as const)

export const PublicKeyInfo = Type.Object({
  id: KeyId,
  alg: Algorithm,
  use: KeyUse,
  publicKey: Type.String({ description: 'SPKI PEM (RSA, Ed25519, EdDSA) or hex of the ristretto255 point (ElGamal)' }),
  status: KeyStatus,
  createdAt: IsoTime,
}, { additionalProperties: false })

export const ListKeysQuery = Type.Object({
  alg: Type.Optional(Algorithm),
  status: Type.Optional(KeyStatus),
}, { additionalProperties: false })

export const CreateKeyBody = Type.Object({ alg: Algorithm }, { additionalProperties: false })
export const KeyParams = Type.Object({ id: KeyId }, { additionalProperties: false })

const RsaEncryptBody = Type.Object({
  alg: Type.Literal('RSA-OAEP-256'),
  keyId: Type.Optional(KeyId),
  data: Base64Data,
}, { additionalProperties: false })
const ElGamalEncryptBody = Type.Object({
  alg: Type.Literal('ELGAMAL-RISTRETTO255'),
  keyId: Type.Optional(KeyId),
  value: Type.Integer({ minimum: 0, maximum: ELGAMAL_VALUE_LIMIT - 1 }),
}, { additionalProperties: false })

/**
 * `alg` picks the shape, so a mistake is reported against the branch the client meant
 * (a plain union would report the first branch's complaint).
 */
export const EncryptBody = Type.Unsafe<Static<typeof RsaEncryptBody> | Static<typeof ElGamalEncryptBody>>({
  type: 'object',
  required: ['alg'],
  discriminator: { propertyName: 'alg' },
  oneOf: [RsaEncryptBody, ElGamalEncryptBody],
  description: 'Without keyId the active key of the algorithm is used',
})

export const EncryptReply = Type.Union([
  Type.Object({ keyId: KeyId, alg: Type.Literal('RSA-OAEP-256'), ciphertext: RsaCiphertext }, { additionalProperties: false }),
  Type.Object({ keyId: KeyId, alg: Type.Literal('ELGAMAL-RISTRETTO255'), ciphertext: ElGamalCiphertext }, { additionalProperties: false }),
])

/**
 * Only the ciphertext's shape is checked here (a string, or an object of two strings): anything wrong
 * with its content, down to a stray character, is `decryption_failed` like every other failure.
 */
export const DecryptBody = Type.Object({
  keyId: KeyId,
  ciphertext: Type.Union([
    Type.String({ minLength: 1, maxLength: base64Length(MAX_RSA_CIPHERTEXT_BYTES), description: 'RSA-OAEP-256 ciphertext, base64url' }),
    Type.Object({ c1: Type.String({ maxLength: 64 }), c2: Type.String({ maxLength: 64 }) }, {
      additionalProperties: false,
      description: 'ElGamal ciphertext: two ristretto255 encodings, hex',
    }),
  ]),
}, { additionalProperties: false })

export const DecryptReply = Type.Union([
  Type.Object({ data: Type.String({ description: 'base64' }) }, { additionalProperties: false }),
  Type.Object({ value: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
])

export const SignBody = Type.Object({
  data: Base64Data,
  alg: Type.Optional(SignatureAlgorithm),
}, { additionalProperties: false })

export const SignReply = Type.Object({
  keyId: KeyId,
  alg: SignatureAlgorithm,
  signature: Type.String({ description: 'base64url' }),
}, { additionalProperties: false })

export const VerifyBody = Type.Object({
  keyId: KeyId,
  data: Base64Data,
  signature: Base64Url(512, 'base64url'),
}, { additionalProperties: false })

export const VerifyReply = Type.Object({ valid: Type.Boolean() }, { additionalProperties: false })

export const AddBody = Type.Object({
  keyId: KeyId,
  ciphertexts: Type.Array(ElGamalCiphertext, { minItems: 1, maxItems: MAX_ADDENDS }),
}, { additionalProperties: false })

export const AddReply = Type.Object({ ciphertext: ElGamalCiphertext }, { additionalProperties: false })

export const Jwks = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.Literal('OKP'),
    crv: Type.Literal('Ed25519'),
    x: Type.String(),
    kid: Type.String(),
    alg: Type.Literal('EdDSA'),
    use: Type.Literal('sig'),
  }, { additionalProperties: false })),
}, { additionalProperties: false, description: 'RFC 7517 JWK set of the access-token keys' })
