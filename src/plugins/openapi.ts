import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { ErrorBody } from '../schemas.js'

/** OpenAPI 3 document at `/docs/json`, interactive page at `/docs`, built from the route schemas. */
async function openapiPlugin(fastify: FastifyInstance) {
  fastify.addSchema(ErrorBody)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Vottery API',
        version: '1.0.0',
        description: 'Onboarding (email OTP, SMS OTP, WebAuthn passkey), sessions, devices, users and security for Vottery.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      tags: [
        { name: 'auth', description: 'Onboarding, passkey login, tokens and sessions' },
        { name: 'users', description: 'Profile, demographics, activity and administration' },
        { name: 'devices', description: 'Devices of the signed-in user' },
        { name: 'security', description: 'Keys, encryption and signatures' },
        { name: 'operations', description: 'Health and metrics' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}

export default fp(openapiPlugin, { name: 'openapi', fastify: '5.x' })
