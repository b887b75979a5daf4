import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { FieldCipher } from './fields.js'
import { KeyStore } from './key-store.js'
import { loadMasterKey } from './master-key.js'
import { CryptoOperations } from './operations.js'
import { CryptoService } from './service.js'
import { RevokedSessionSet, TokenService, type RevokedSessions } from './tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Keys, field encryption, lookup hashes and public-key operations. */
    crypto: CryptoService
    /** Access tokens: sign, verify, JWKS. */
    tokens: TokenService
    /** Revoked session ids consulted on every access-token verification; the auth module feeds it. */
    revokedSessions: RevokedSessions
  }
}

export interface CryptoServicesOptions {
  config: Config
}

/** Slack on top of the token lifetime for forgetting a revoked session: clocks between instances differ. */
const REVOCATION_SLACK_MS = 60_000

/**
 * The crypto module's shared services. Registered before the modules: it resolves the master key,
 * opens the key store (making the token, data and MAC keys on first start) and decorates
 * `crypto`, `tokens` and `revokedSessions`.
 */
async function cryptoServices(fastify: FastifyInstance, opts: CryptoServicesOptions) {
  const { config } = opts
  const masterKey = await loadMasterKey(config, fastify.log)
  const keys = await KeyStore.open({ database: fastify.database, masterKey: masterKey.key, log: fastify.log })
  masterKey.key.fill(0)
  const stopListening = await keys.listen()
  fastify.addHook('onClose', async () => {
    await stopListening().catch(() => {})
  })

  const fields = await FieldCipher.create(keys)
  await keys.active('EdDSA')

  const settings = { issuer: config.tokens.issuer, audience: config.tokens.audience, accessTtl: config.tokens.accessTtl }
  const revokedSessions = new RevokedSessionSet(config.tokens.accessTtl * 1000 + REVOCATION_SLACK_MS)
  let tokens: TokenService | null = null
  await fastify.register(fastifyJwt, {
    secret: {
      public: (...args: unknown[]) => tokens!.publicKeyForToken(...args),
      // Access tokens are signed through `fastify.tokens`, which picks the active key and sets kid and typ.
      private: async () => { throw new Error('sign access tokens with fastify.tokens.signAccessToken') },
    },
    sign: { algorithm: 'EdDSA' },
    verify: TokenService.verifierOptions(settings),
    decoratorName: 'accessTokenPayload',
  })
  tokens = new TokenService(fastify.jwt, keys, settings, revokedSessions)

  fastify.decorate('crypto', new CryptoService(keys, new CryptoOperations(keys), fields))
  fastify.decorate('tokens', tokens)
  fastify.decorate('revokedSessions', revokedSessions)
}

export default fp(cryptoServices, { name: 'crypto', fastify: '5.x', dependencies: ['db'] })
