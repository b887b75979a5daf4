import type { Sealed } from '../../db/schema/crypto.js'
import type { FieldCipher } from './fields.js'
import type { KeyStore } from './key-store.js'
import type { CryptoOperations } from './operations.js'

/**
 * What other modules call as `fastify.crypto`: the key store, field encryption and lookup hashes,
 * and the public-key operations (encrypt, decrypt, sign, verify, homomorphic addition).
 */
export class CryptoService {
  constructor(
    readonly keys: KeyStore,
    readonly operations: CryptoOperations,
    private readonly fields: FieldCipher,
  ) {}

  /** AES-256-GCM under the active data key, bound to `context` (e.g. `users.email`). */
  seal(plaintext: string, context: string): Promise<Sealed> {
    return this.fields.seal(plaintext, context)
  }

  /** Opens a value sealed in the same `context`; throws `FieldDecryptionError` (a 500) otherwise. */
  open(sealed: Sealed | string, context: string): Promise<string> {
    return this.fields.open(sealed, context)
  }

  sealJson(value: unknown, context: string): Promise<Sealed> {
    return this.fields.sealJson(value, context)
  }

  openJson<T = unknown>(sealed: Sealed | string, context: string): Promise<T> {
    return this.fields.openJson<T>(sealed, context)
  }

  /** Keyed HMAC-SHA256 (base64url) for indexed lookups of values never stored in clear. Normalise first. */
  lookupHash(value: string, context: string): string {
    return this.fields.lookupHash(value, context)
  }

  /** Constant-time check of a value against a stored lookup hash (one-time codes). */
  lookupHashMatches(value: string, context: string, expected: string): boolean {
    return this.fields.lookupHashMatches(value, context, expected)
  }
}
