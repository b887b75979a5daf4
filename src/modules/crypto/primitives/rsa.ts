import { constants, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto'
import { AES_KEY_BYTES, openAesGcm, sealAesGcm } from './aead.js'

/**
 * RSA-OAEP with SHA-256 (MGF1-SHA-256). Data that fits one OAEP block (k − 66 bytes; 318 for
 * RSA-3072) is the bare OAEP block, readable by any RSA-OAEP-256 implementation. Longer data is
 * wrapped: `OAEP(content key) ‖ nonce ‖ AES-256-GCM(data) ‖ tag`, the OAEP block doubling as the
 * GCM associated data. The wrapped form uses an OAEP label, so its key block cut loose and sent
 * alone cannot be decrypted as a short message.
 */
export const RSA_MODULUS_BITS = 3072
const HASH_BYTES = 32
const WRAPPED_LABEL = Buffer.from('vottery/rsa-oaep-256+a256gcm')

export class RsaDecryptionFailure extends Error {
  override name = 'RsaDecryptionFailure'
  constructor() {
    super('RSA-OAEP decryption failed')
  }
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (key.asymmetricKeyType !== 'rsa' || !bits) throw new TypeError('an RSA key is required')
  return bits / 8
}

/** The largest plaintext a single OAEP block carries for this key. */
export function oaepCapacity(key: KeyObject): number {
  return modulusBytes(key) - 2 * HASH_BYTES - 2
}

function oaep(key: KeyObject, label?: Buffer) {
  return { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', ...(label ? { oaepLabel: label } : {}) }
}

export function rsaOaepEncrypt(publicKey: KeyObject, data: Uint8Array): Buffer {
  if (data.length <= oaepCapacity(publicKey)) return publicEncrypt(oaep(publicKey), data)
  const contentKey = randomBytes(AES_KEY_BYTES)
  const keyBlock = publicEncrypt(oaep(publicKey, WRAPPED_LABEL), contentKey)
  return Buffer.concat([keyBlock, sealAesGcm(contentKey, data, keyBlock)])
}

/** Throws `RsaDecryptionFailure` for every malformed, foreign or tampered ciphertext, whatever the cause. */
export function rsaOaepDecrypt(privateKey: KeyObject, ciphertext: Uint8Array): Buffer {
  const k = modulusBytes(privateKey)
  try {
    if (ciphertext.length === k) return privateDecrypt(oaep(privateKey), ciphertext)
    if (ciphertext.length <= k) throw new RsaDecryptionFailure()
    const keyBlock = ciphertext.subarray(0, k)
    const contentKey = privateDecrypt(oaep(privateKey, WRAPPED_LABEL), keyBlock)
    if (contentKey.length !== AES_KEY_BYTES) throw new RsaDecryptionFailure()
    return openAesGcm(contentKey, ciphertext.subarray(k), keyBlock)
  } catch {
    // Bad padding, a wrong length, a failed tag: one failure, whatever the cause.
    throw new RsaDecryptionFailure()
  }
}
