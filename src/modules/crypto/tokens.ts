import { createPublicKey, randomUUID, sign } from 'node:crypto'
import type { JWT } from '@fastify/jwt'
import { Unauthorized } from '../../errors.js'
import { isKeyId, type KeyStore, type LoadedKey } from './key-store.js'

/** RFC 9068 access-token type, carried in the header and checked on every verification. */
export const ACCESS_TOKEN_TYP = 'at+jwt'
export const ACCESS_TOKEN_ALG = 'EdDSA'
/** Distinct valid tokens remembered after their one signature check. */
const VERIFIED_CACHE_SIZE = 10_000
/** How long an unknown `kid` is remembered as unknown, so forged kids cannot make every request read the database. */
const UNKNOWN_KID_TTL_MS = 30_000
const UNKNOWN_KID_CACHE_SIZE = 1_000
const MAX_TOKEN_LENGTH = 8_192
const MAX_ROLES = 16

/** Who a token speaks for. Claims: `sub` = user id, `sid` = session id, `roles`. */
export interface AccessTokenSubject {
  userId: string
  sessionId: string
  roles: readonly string[]
}

export interface AccessTokenClaims extends AccessTokenSubject {
  /** `jti` */
  tokenId: string
  /** `kid` of the signing key */
  keyId: string
  issuedAt: Date
  expiresAt: Date
}

export interface IssuedAccessToken {
  token: string
  tokenType: 'Bearer'
  /** Seconds */
  expiresIn: number
  expiresAt: Date
  tokenId: string
}

/** Revoked session ids; the auth module feeds it (e.g. from PostgreSQL NOTIFY) and every verification consults it. */
export interface RevokedSessions {
  has(sessionId: string): boolean
  add(sessionId: string): void
}

/**
 * In-process revoked sessions. An entry only has to outlive the access tokens issued before the
 * revocation, so it is forgotten after the longest token lifetime (plus a minute of clock slack).
 */
export class RevokedSessionSet implements RevokedSessions {
  private readonly revokedAt = new Map<string, number>()

  constructor(private readonly retentionMs: number) {}

  has(sessionId: string): boolean {
    const at = this.revokedAt.get(sessionId)
    if (at === undefined) return false
    if (Date.now() - at > this.retentionMs) {
      this.revokedAt.delete(sessionId)
      return false
    }
    return true
  }

  add(sessionId: string): void {
    this.revokedAt.delete(sessionId)
    this.revokedAt.set(sessionId, Date.now())
    // Insertion order is revocation order: expired entries are at the front.
    const cutoff = Date.now() - this.retentionMs
    for (const [id, at] of this.revokedAt) {
      if (at >= cutoff) break
      this.revokedAt.delete(id)
    }
  }

  get size(): number {
    return this.revokedAt.size
  }
}

export interface TokenSettings {
  issuer: string
  audience: string
  /** Seconds */
  accessTtl: number
}

export interface PublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: typeof ACCESS_TOKEN_ALG
  use: 'sig'
}

interface DecodedToken {
  header: { kid?: unknown; alg?: unknown; typ?: unknown }
  payload: Record<string, unknown>
}

/**
 * Access tokens: EdDSA JWTs signed with the active `EdDSA` key of the key store, and verified
 * through @fastify/jwt. Verification pins the algorithm and checks `iss`, `aud`, `typ`, `exp` and the `kid`
 * (a known, unretired token key), then the session against `revokedSessions`. A valid token's
 * signature is checked once and the result remembered until the token expires.
 */
export class TokenService {
  /** Signature checks actually performed (cache misses); for metrics and tests. */
  signatureChecks = 0
  private readonly verified = new Map<string, AccessTokenClaims>()
  private readonly unknownKids = new Map<string, number>()
  private jwksCache: { keys: PublicJwk[] } | null = null

  constructor(
    private readonly jwt: JWT,
    private readonly keys: KeyStore,
    private readonly settings: TokenSettings,
    readonly revokedSessions: RevokedSessions,
  ) {
    keys.onChange(() => this.forgetDerivedState())
  }

  /** The options @fastify/jwt is registered with: the verifier every access token goes through. */
  static verifierOptions(settings: TokenSettings) {
    return {
      algorithms: [ACCESS_TOKEN_ALG] as ['EdDSA'],
      allowedIss: settings.issuer,
      allowedAud: settings.audience,
      checkTyp: ACCESS_TOKEN_TYP,
      requiredClaims: ['iss', 'aud', 'sub', 'sid', 'roles', 'jti', 'iat', 'exp'],
      complete: true,
      // This service keeps its own cache (below) so it can drop it when a key is retired.
      cache: false,
      clockTolerance: 0,
    }
  }

  /** The key @fastify/jwt verifies a token with, found by its `kid`. Works for fast-jwt's and @fastify/jwt's calling conventions. */
  readonly publicKeyForToken = async (...args: unknown[]): Promise<string> => {
    const decoded = args.find((arg): arg is DecodedToken => typeof arg === 'object' && arg !== null && 'header' in arg)
    const kid = decoded?.header.kid
    if (typeof kid !== 'string' || !isKeyId(kid)) throw new Error('the token has no usable kid')
    const key = await this.tokenKey(kid)
    if (!key?.publicKey) throw new Error('the token was signed with an unknown key')
    return key.publicKey
  }

  async signAccessToken(subject: AccessTokenSubject, options: { ttlSeconds?: number; issuedAt?: Date } = {}): Promise<IssuedAccessToken> {
    const key = await this.keys.active('EdDSA')
    return this.sign(key, subject, options)
  }

  /**
   * Signs with the key active now, loaded up front: the returned function needs no database, so it can run
   * inside a transaction without asking the pool for a second connection.
   */
  async signer(): Promise<(subject: AccessTokenSubject) => IssuedAccessToken> {
    const key = await this.keys.active('EdDSA')
    return (subject) => this.sign(key, subject, {})
  }

  private sign(key: LoadedKey, subject: AccessTokenSubject, options: { ttlSeconds?: number; issuedAt?: Date }): IssuedAccessToken {
    const ttl = options.ttlSeconds ?? this.settings.accessTtl
    // Revocation entries are kept for the configured lifetime; a longer-lived token could outlive its revocation.
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > this.settings.accessTtl) throw new RangeError('ttlSeconds must be within the configured access-token lifetime')
    if (subject.roles.length > MAX_ROLES) throw new RangeError('too many roles')
    if (key.material.kind !== 'ed25519') throw new Error(`key ${key.id} is not an Ed25519 key`)
    const issuedAtMs = Math.floor((options.issuedAt?.getTime() ?? Date.now()) / 1000) * 1000
    const tokenId = randomUUID()
    // Signed here with the key already in memory: through @fastify/jwt, every token made a new signer that
    // parsed the private key's PEM again (about a tenth of a refresh's CPU). Verification still goes through
    // @fastify/jwt, with every check pinned in verifierOptions.
    const header = { alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: key.id }
    const payload = {
      sid: subject.sessionId,
      roles: [...subject.roles],
      iss: this.settings.issuer,
      aud: this.settings.audience,
      sub: subject.userId,
      jti: tokenId,
      iat: issuedAtMs / 1000,
      exp: issuedAtMs / 1000 + ttl,
    }
    const input = `${base64url(header)}.${base64url(payload)}`
    const token = `${input}.${sign(null, Buffer.from(input), key.material.privateKey).toString('base64url')}`
    const expiresAt = new Date(issuedAtMs + ttl * 1000)
    return { token, tokenType: 'Bearer', expiresIn: ttl, expiresAt, tokenId }
  }

  /** The token's claims, or `Unauthorized` (401 `unauthorized`) for anything short of a valid, unrevoked token. */
  async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new Unauthorized()
    let claims = this.verified.get(token)
    if (claims && claims.expiresAt.getTime() <= Date.now()) {
      this.verified.delete(token)
      claims = undefined
    }
    if (!claims) {
      claims = await this.checkSignature(token)
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!)
      this.verified.set(token, claims)
    }
    if (this.revokedSessions.has(claims.sessionId)) throw new Unauthorized({ message: 'This session has ended' })
    return claims
  }

  /** Public token keys (active and rotated) as a JWK set, for `/.well-known/jwks.json`. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    if (this.jwksCache) return this.jwksCache
    const keys = (await this.keys.list({ alg: 'EdDSA' }))
      .filter((key) => key.status !== 'retired')
      .map((key): PublicJwk => {
        const jwk = createPublicKey(key.publicKey).export({ format: 'jwk' })
        return { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x), kid: key.id, alg: ACCESS_TOKEN_ALG, use: 'sig' }
      })
    this.jwksCache = { keys }
    return this.jwksCache
  }

  private async checkSignature(token: string): Promise<AccessTokenClaims> {
    this.signatureChecks++
    let decoded: DecodedToken
    try {
      decoded = await (this.jwt.verify(token) as unknown as Promise<DecodedToken>)
    } catch {
      throw new Unauthorized()
    }
    const { header, payload } = decoded
    const { sub, sid, roles, jti, iat, exp } = payload
    if (
      typeof sub !== 'string' || sub.length === 0 || sub.length > 128
      || typeof sid !== 'string' || sid.length === 0 || sid.length > 128
      || typeof jti !== 'string' || typeof iat !== 'number' || typeof exp !== 'number'
      || !Array.isArray(roles) || roles.length > MAX_ROLES || !roles.every((role) => typeof role === 'string')
    ) throw new Unauthorized()
    return {
      userId: sub,
      sessionId: sid,
      roles: roles as string[],
      tokenId: jti,
      keyId: String(header.kid),
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
    }
  }

  private async tokenKey(kid: string): Promise<LoadedKey | null> {
    const unknownUntil = this.unknownKids.get(kid)
    if (unknownUntil !== undefined && unknownUntil > Date.now()) return null
    const key = await this.keys.get(kid)
    if (key && key.alg === 'EdDSA' && key.status !== 'retired') return key
    if (this.unknownKids.size >= UNKNOWN_KID_CACHE_SIZE) this.unknownKids.delete(this.unknownKids.keys().next().value!)
    this.unknownKids.set(kid, Date.now() + UNKNOWN_KID_TTL_MS)
    return null
  }

  /** A key changed somewhere: verified tokens, unknown kids and the published set are looked at afresh. */
  private forgetDerivedState(): void {
    this.verified.clear()
    this.unknownKids.clear()
    this.jwksCache = null
  }
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
