import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Sealed } from '../../db/schema/crypto.js'
import { openAesGcm, sealAesGcm } from './primitives/aead.js'
import type { KeyMaterial } from './algorithms.js'
import type { KeyStore, LoadedKey } from './key-store.js'

const VERSION = 'v1'
const SEALED = /^v1\.([0-9a-f-]{36})\.([A-Za-z0-9_-]+)$/
const CONTEXT = /^[A-Za-z0-9_.:-]{1,64}$/

/** A sealed value that cannot be opened: tampered, moved to another column, or its key gone. A server fault, not the client's. */
export class FieldDecryptionError extends Error {
  override name = 'FieldDecryptionError'
}

function secretOf(key: LoadedKey): Buffer {
  const material: KeyMaterial = key.material
  if (material.kind !== 'secret') throw new Error(`key ${key.id} is not a secret key`)
  return material.secret
}

function checkContext(context: string): void {
  // The context names the column (or purpose) a value belongs to; it is bound into the ciphertext and the hash.
  if (!CONTEXT.test(context)) throw new RangeError('a field context is 1–64 characters of [A-Za-z0-9_.:-]')
}

/**
 * Field encryption and lookup hashes for other modules.
 *
 * `seal` encrypts under the active data key (AES-256-GCM) and returns `v1.<keyId>.<base64url>`; the
 * context (e.g. `users.email`) is authenticated with it, so a value copied into another column does
 * not open. After a data-key rotation, old values keep opening; new ones use the new key.
 *
 * `lookupHash` is HMAC-SHA256 under a MAC key that never rotates (stored hashes are compared across
 * all time): equal inputs in the same context give equal hashes, for indexed lookups of emails,
 * phones and one-time codes without storing them. Normalise the input first (e.g. lower-case email).
 */
export class FieldCipher {
  private constructor(
    private readonly keys: KeyStore,
    private readonly macKey: Buffer,
  ) {}

  /** Loads (or makes, on first start) the data key and the MAC key, so lookups are synchronous afterwards. */
  static async create(keys: KeyStore): Promise<FieldCipher> {
    const [mac] = await Promise.all([keys.active('HMAC-SHA256'), keys.active('A256GCM')])
    return new FieldCipher(keys, secretOf(mac))
  }

  async seal(plaintext: string, context: string): Promise<Sealed> {
    checkContext(context)
    const key = await this.keys.active('A256GCM')
    const body = sealAesGcm(secretOf(key), Buffer.from(plaintext, 'utf8'), aad(key.id, context))
    return `${VERSION}.${key.id}.${body.toString('base64url')}` as Sealed
  }

  /** Throws `FieldDecryptionError` for anything that is not a value sealed in this context. */
  async open(sealed: Sealed | string, context: string): Promise<string> {
    checkContext(context)
    const match = SEALED.exec(sealed)
    if (!match) throw new FieldDecryptionError('not a sealed value')
    const keyId = match[1]!
    const key = await this.keys.get(keyId)
    if (!key || key.alg !== 'A256GCM') throw new FieldDecryptionError(`no data key ${keyId}`)
    try {
      return openAesGcm(secretOf(key), Buffer.from(match[2]!, 'base64url'), aad(keyId, context)).toString('utf8')
    } catch {
      throw new FieldDecryptionError(`a value sealed under key ${keyId} did not open in context ${context}`)
    }
  }

  async sealJson(value: unknown, context: string): Promise<Sealed> {
    return this.seal(JSON.stringify(value), context)
  }

  async openJson<T = unknown>(sealed: Sealed | string, context: string): Promise<T> {
    return JSON.parse(await this.open(sealed, context)) as T
  }

  /** base64url HMAC-SHA256 of `value` in `context` (43 characters). */
  lookupHash(value: string, context: string): string {
    checkContext(context)
    return createHmac('sha256', this.macKey).update(context).update('\u0000').update(value, 'utf8').digest('base64url')
  }

  /** Constant-time comparison of `value`'s lookup hash with a stored one (one-time codes). */
  lookupHashMatches(value: string, context: string, expected: string): boolean {
    const actual = Buffer.from(this.lookupHash(value, context))
    const stored = Buffer.from(expected)
    return actual.length === stored.length && timingSafeEqual(actual, stored)
  }
}

function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`vottery/field/${VERSION}|${keyId}|${context}`)
}
