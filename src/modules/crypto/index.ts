import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from '../../config.js'
import { withErrors } from '../../schemas.js'
import securityRoutes from './routes.js'
import { Jwks } from './schemas.js'

export interface CryptoModuleOptions {
  config: Config
}

/** Verifiers cache the key set this long; a rotated-in key is fetched again on an unknown kid. */
const JWKS_MAX_AGE_SECONDS = 300

/**
 * The crypto module's routes: `/.well-known/jwks.json` and `/api/security/*`. Registered at the root,
 * after the shared services plugin (`./plugin.js`) that decorates `fastify.crypto` and `fastify.tokens`.
 */
export default async function cryptoModule(fastify: FastifyInstance, opts: CryptoModuleOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/.well-known/jwks.json', {
    schema: {
      tags: ['security'],
      summary: 'Public keys that verify access tokens (JWK set)',
      response: withErrors({ 200: Jwks }),
    },
  }, async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
    return fastify.tokens.jwks()
  })

  await fastify.register(securityRoutes, { config: opts.config, prefix: '/api/security' })
}
