import { defineError } from '../../errors.js'

/** One answer for every malformed, foreign or tampered ciphertext, so a failure tells an attacker nothing. */
export const DecryptionFailed = defineError('decryption_failed', 400, 'The ciphertext could not be decrypted')
/** ElGamal addition: a component is not a canonical ristretto255 encoding. */
export const InvalidCiphertext = defineError('invalid_ciphertext', 400, 'A ciphertext is not a valid ElGamal ciphertext')
export const KeyAlgorithmMismatch = defineError('key_algorithm_mismatch', 400, 'This key is not of the algorithm this operation needs')
/** New operations need the active key; a rotated key only decrypts and verifies, a retired one does nothing. */
export const KeyNotActive = defineError('key_not_active', 409, 'This key is no longer active')
export const KeyRetired = defineError('key_retired', 409, 'This key has been retired')
export const KeyNotRotatable = defineError('key_not_rotatable', 409, 'This key cannot be rotated')
