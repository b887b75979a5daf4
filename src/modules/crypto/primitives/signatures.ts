import { constants, sign, verify, type KeyObject } from 'node:crypto'

export type SignatureAlgorithm = 'Ed25519' | 'RSA-PSS-SHA256'

/** RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (the digest length, as RFC 8017 recommends). */
export const PSS_SALT_BYTES = 32

function pss(key: KeyObject) {
  return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_BYTES }
}

export function signData(algorithm: SignatureAlgorithm, privateKey: KeyObject, data: Uint8Array): Buffer {
  return algorithm === 'Ed25519' ? sign(null, data, privateKey) : sign('sha256', data, pss(privateKey))
}

/** False for a wrong, malformed or foreign signature; never throws on bad input. */
export function verifyData(algorithm: SignatureAlgorithm, publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (algorithm === 'Ed25519') {
      return publicKey.asymmetricKeyType === 'ed25519' && signature.length === 64 && verify(null, data, publicKey, signature)
    }
    return publicKey.asymmetricKeyType === 'rsa' && verify('sha256', data, pss(publicKey), signature)
  } catch {
    return false
  }
}
