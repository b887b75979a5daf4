import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** AES-256-GCM with a random 96-bit nonce; the 128-bit tag is appended: `nonce ‖ ciphertext ‖ tag`. */
export const AES_KEY_BYTES = 32
export const GCM_NONCE_BYTES = 12
export const GCM_TAG_BYTES = 16

export class AuthenticationFailure extends Error {
  override name = 'AuthenticationFailure'
  constructor() {
    super('authenticated decryption failed')
  }
}

export function sealAesGcm(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== AES_KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key')
  const nonce = randomBytes(GCM_NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES })
  cipher.setAAD(aad)
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** Throws `AuthenticationFailure` for any malformed, truncated or tampered input. */
export function openAesGcm(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== AES_KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key')
  if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) throw new AuthenticationFailure()
  const nonce = sealed.subarray(0, GCM_NONCE_BYTES)
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES)
  const body = sealed.subarray(GCM_NONCE_BYTES, sealed.length - GCM_TAG_BYTES)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES })
    decipher.setAAD(aad)
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    throw new AuthenticationFailure()
  }
}
