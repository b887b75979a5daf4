import { createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCallback, randomBytes, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { RSA_MODULUS_BITS } from './primitives/rsa.js'
import { encodeElement, generateElGamalKey, publicKeyFor, scalarFromBytes, scalarToBytes, type GroupElement } from './primitives/elgamal.js'

const generateKeyPair = promisify(generateKeyPairCallback)

/** Keys with a public half: listed over HTTP, chosen by `alg`. `EdDSA` is the access-token signing key. */
export const ASYMMETRIC_ALGORITHMS = ['RSA-OAEP-256', 'ELGAMAL-RISTRETTO255', 'Ed25519', 'RSA-PSS-SHA256', 'EdDSA'] as const
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number]
/** Secret keys for other modules: field encryption (data key) and lookup hashes (MAC key). Never listed. */
export type SecretAlgorithm = 'A256GCM' | 'HMAC-SHA256'
export type KeyAlgorithm = AsymmetricAlgorithm | SecretAlgorithm
export type KeyUse = 'enc' | 'sig' | 'jwt' | 'data' | 'mac'
export type KeyStatus = 'active' | 'rotated' | 'retired'

/** Each algorithm has exactly one use: a key never serves two purposes. */
export const KEY_USE: Record<KeyAlgorithm, KeyUse> = {
  'RSA-OAEP-256': 'enc',
  'ELGAMAL-RISTRETTO255': 'enc',
  'Ed25519': 'sig',
  'RSA-PSS-SHA256': 'sig',
  'EdDSA': 'jwt',
  'A256GCM': 'data',
  'HMAC-SHA256': 'mac',
}

export function isAsymmetric(alg: string): alg is AsymmetricAlgorithm {
  return (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)
}

export function isKeyAlgorithm(alg: string): alg is KeyAlgorithm {
  return Object.hasOwn(KEY_USE, alg)
}

export type KeyMaterial =
  | { kind: 'rsa'; privateKey: KeyObject; publicKey: KeyObject }
  | { kind: 'ed25519'; privateKey: KeyObject; publicKey: KeyObject }
  | { kind: 'elgamal'; secret: bigint; publicKey: GroupElement }
  | { kind: 'secret'; secret: Buffer }

/** What a new key is made of: the public text published as is, and the secret bytes that get wrapped. */
export interface NewKeyMaterial {
  publicKey: string | null
  secret: Buffer
}

const spkiPem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString()

/** RSA-3072 takes about a second, which is why keys are made on first need and cached. */
export async function generateKeyMaterial(alg: KeyAlgorithm): Promise<NewKeyMaterial> {
  switch (alg) {
    case 'RSA-OAEP-256':
    case 'RSA-PSS-SHA256': {
      const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: 0x10001 })
      return { publicKey: spkiPem(publicKey), secret: privateKey.export({ type: 'pkcs8', format: 'der' }) }
    }
    case 'Ed25519':
    case 'EdDSA': {
      const { privateKey, publicKey } = await generateKeyPair('ed25519')
      return { publicKey: spkiPem(publicKey), secret: privateKey.export({ type: 'pkcs8', format: 'der' }) }
    }
    case 'ELGAMAL-RISTRETTO255': {
      const { secret, publicKey } = generateElGamalKey()
      return { publicKey: encodeElement(publicKey), secret: scalarToBytes(secret) }
    }
    case 'A256GCM':
    case 'HMAC-SHA256':
      return { publicKey: null, secret: randomBytes(32) }
  }
}

/**
 * Rebuilds usable key material from unwrapped secret bytes. The public half is derived again from
 * the private one and must equal the stored public text, so a swapped public key is caught.
 */
export function parseKeyMaterial(alg: KeyAlgorithm, secret: Buffer, storedPublicKey: string | null): KeyMaterial {
  const expectPublic = (derived: string | null) => {
    if (derived !== storedPublicKey) throw new Error(`stored public key does not match the private key (${alg})`)
  }
  switch (alg) {
    case 'RSA-OAEP-256':
    case 'RSA-PSS-SHA256':
    case 'Ed25519':
    case 'EdDSA': {
      const privateKey = createPrivateKey({ key: secret, format: 'der', type: 'pkcs8' })
      const publicKey = createPublicKey(privateKey)
      const kind = alg === 'Ed25519' || alg === 'EdDSA' ? 'ed25519' : 'rsa'
      if (privateKey.asymmetricKeyType !== kind) throw new Error(`key material is not ${kind} (${alg})`)
      expectPublic(spkiPem(publicKey))
      return { kind, privateKey, publicKey } as KeyMaterial
    }
    case 'ELGAMAL-RISTRETTO255': {
      const scalar = scalarFromBytes(secret)
      const publicKey = publicKeyFor(scalar)
      expectPublic(encodeElement(publicKey))
      // Every encryption multiplies the public key; a precomputed window makes that several times faster.
      publicKey.precompute(8)
      return { kind: 'elgamal', secret: scalar, publicKey }
    }
    case 'A256GCM':
    case 'HMAC-SHA256':
      if (secret.length !== 32) throw new Error(`a ${alg} key is 32 bytes`)
      expectPublic(null)
      return { kind: 'secret', secret }
  }
}
