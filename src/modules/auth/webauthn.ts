import { createHash, randomBytes } from 'node:crypto'

/** COSE algorithms offered at registration, most preferred first: EdDSA, ES256, RS256. */
export const SUPPORTED_ALGORITHMS = [-8, -7, -257]

/** How long a passkey sign-in challenge lives, and the matching hint to the browser. */
export const LOGIN_CHALLENGE_TTL_MS = 5 * 60_000
/** Upper bound of the registration prompt's timeout hint; the challenge itself lives as long as the flow. */
export const REGISTRATION_TIMEOUT_MS = 5 * 60_000

/** The WebAuthn user handle of a Vottery user: the 16 bytes of its UUID, base64url. Carries nothing personal. */
export function userHandleOf(userId: string): string {
  return Buffer.from(userId.replace(/-/g, ''), 'hex').toString('base64url')
}

export function userIdOfHandle(handle: string): string {
  const hex = Buffer.from(handle, 'base64url').toString('hex')
  if (hex.length !== 32) throw new Error('not a Vottery user handle')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A fresh random user id whose handle round-trips: a version 4 UUID. */
export function newUserId(): string {
  const bytes = randomBytes(16)
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  return userIdOfHandle(bytes.toString('base64url'))
}

/**
 * The challenge a response claims to answer, read from its clientDataJSON before any verification, to
 * find (and spend) the stored challenge. Null when the client data cannot be read.
 */
export function claimedChallenge(clientDataJSON: string): string | null {
  try {
    const clientData = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }
    return typeof clientData.challenge === 'string' && clientData.challenge.length > 0 && clientData.challenge.length <= 512
      ? clientData.challenge
      : null
  } catch {
    return null
  }
}

/**
 * A signature counter that did not move forward. Authenticators that never count report 0 every time,
 * which is allowed; once a credential has counted, every use must report a higher number.
 */
export function counterRegressed(reported: number, stored: number): boolean {
  return (reported > 0 || stored > 0) && reported <= stored
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}
