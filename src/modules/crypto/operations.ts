import { NotFound } from '../../errors.js'
import type { KeyAlgorithm } from './algorithms.js'
import { DecryptionFailed, InvalidCiphertext, KeyAlgorithmMismatch, KeyNotActive, KeyRetired } from './errors.js'
import type { KeyStore, LoadedKey } from './key-store.js'
import {
  addCiphertexts, decodeElement, decryptValue, encodeElement, encryptValue, InvalidEncoding, type ElGamalCiphertext,
} from './primitives/elgamal.js'
import { rsaOaepDecrypt, rsaOaepEncrypt } from './primitives/rsa.js'
import { signData, verifyData, type SignatureAlgorithm } from './primitives/signatures.js'

/** An ElGamal ciphertext as it travels: both points as 64 hex digits. */
export interface ElGamalCiphertextHex {
  c1: string
  c2: string
}

const BASE64URL = /^[A-Za-z0-9_-]+$/

export type DecryptResult = { alg: 'RSA-OAEP-256'; data: Buffer } | { alg: 'ELGAMAL-RISTRETTO255'; value: number }

function decodeCiphertext(ciphertext: ElGamalCiphertextHex): ElGamalCiphertext {
  return { c1: decodeElement(ciphertext.c1), c2: decodeElement(ciphertext.c2) }
}

function encodeCiphertext(ciphertext: ElGamalCiphertext): ElGamalCiphertextHex {
  return { c1: encodeElement(ciphertext.c1), c2: encodeElement(ciphertext.c2) }
}

/**
 * The cryptographic operations behind /api/security: encryption under the service's public keys,
 * decryption, signatures and homomorphic tallying. New work always uses an active key; a rotated
 * key still decrypts and verifies; a retired key refuses everything.
 */
export class CryptoOperations {
  constructor(private readonly keys: KeyStore) {}

  /** RSA-OAEP-256 (hybrid with AES-256-GCM past one OAEP block). */
  async encryptData(data: Uint8Array, keyId?: string): Promise<{ keyId: string; ciphertext: Buffer }> {
    const key = await this.keyForNewWork('RSA-OAEP-256', keyId)
    if (key.material.kind !== 'rsa') throw new KeyAlgorithmMismatch()
    return { keyId: key.id, ciphertext: rsaOaepEncrypt(key.material.publicKey, data) }
  }

  /** Exponential ElGamal of an integer in [0, ELGAMAL_VALUE_LIMIT). */
  async encryptValue(value: number, keyId?: string): Promise<{ keyId: string; ciphertext: ElGamalCiphertextHex }> {
    const key = await this.keyForNewWork('ELGAMAL-RISTRETTO255', keyId)
    if (key.material.kind !== 'elgamal') throw new KeyAlgorithmMismatch()
    return { keyId: key.id, ciphertext: encodeCiphertext(encryptValue(key.material.publicKey, BigInt(value))) }
  }

  /** Any ciphertext that does not decrypt, for whatever reason, is `decryption_failed`. */
  async decrypt(keyId: string, ciphertext: string | ElGamalCiphertextHex): Promise<DecryptResult> {
    const key = await this.keyForExistingWork(keyId, ['RSA-OAEP-256', 'ELGAMAL-RISTRETTO255'])
    try {
      if (key.material.kind === 'rsa' && typeof ciphertext === 'string' && BASE64URL.test(ciphertext)) {
        return { alg: 'RSA-OAEP-256', data: rsaOaepDecrypt(key.material.privateKey, Buffer.from(ciphertext, 'base64url')) }
      }
      if (key.material.kind === 'elgamal' && typeof ciphertext === 'object') {
        const value = await decryptValue(key.material.secret, decodeCiphertext(ciphertext))
        if (value !== null) return { alg: 'ELGAMAL-RISTRETTO255', value }
      }
    } catch {
      // Every cause below (encoding, padding, tag, range) ends in the same answer.
    }
    throw new DecryptionFailed()
  }

  async sign(data: Uint8Array, alg: SignatureAlgorithm = 'Ed25519'): Promise<{ keyId: string; alg: SignatureAlgorithm; signature: Buffer }> {
    const key = await this.keys.active(alg)
    if (key.material.kind !== 'rsa' && key.material.kind !== 'ed25519') throw new KeyAlgorithmMismatch()
    return { keyId: key.id, alg, signature: signData(alg, key.material.privateKey, data) }
  }

  /** Signatures of rotated keys still verify; a malformed signature is simply not valid. */
  async verify(keyId: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const key = await this.keyForExistingWork(keyId, ['Ed25519', 'RSA-PSS-SHA256'])
    if (key.material.kind !== 'rsa' && key.material.kind !== 'ed25519') throw new KeyAlgorithmMismatch()
    return verifyData(key.alg as SignatureAlgorithm, key.material.publicKey, data, signature)
  }

  /** Homomorphic sum of ciphertexts made under one ElGamal key. */
  async addCiphertexts(keyId: string, ciphertexts: readonly ElGamalCiphertextHex[]): Promise<ElGamalCiphertextHex> {
    await this.keyForExistingWork(keyId, ['ELGAMAL-RISTRETTO255'])
    const decoded = ciphertexts.map((ciphertext, index) => {
      try {
        return decodeCiphertext(ciphertext)
      } catch (error) {
        if (error instanceof InvalidEncoding) throw new InvalidCiphertext({ details: { index } })
        throw error
      }
    })
    return encodeCiphertext(addCiphertexts(decoded))
  }

  private async keyForNewWork(alg: KeyAlgorithm, keyId?: string): Promise<LoadedKey> {
    if (keyId === undefined) return this.keys.active(alg)
    const key = await this.keys.get(keyId)
    if (!key) throw new NotFound({ message: 'No such key' })
    if (key.alg !== alg) throw new KeyAlgorithmMismatch()
    if (key.status === 'retired') throw new KeyRetired()
    if (key.status !== 'active') throw new KeyNotActive({ message: 'This key was rotated; new work uses the active key' })
    return key
  }

  private async keyForExistingWork(keyId: string, algs: KeyAlgorithm[]): Promise<LoadedKey> {
    const key = await this.keys.get(keyId)
    if (!key) throw new NotFound({ message: 'No such key' })
    if (!algs.includes(key.alg)) throw new KeyAlgorithmMismatch()
    if (key.status === 'retired') throw new KeyRetired()
    return key
  }
}
