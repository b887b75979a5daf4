import fp from 'fastify-plugin'
import helmet from 'helmet'
import cors from '@fastify/cors'
import cookie from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'

/** Security headers, CORS from `CORS_ORIGINS` (credentials allowed: the refresh cookie), cookie parsing. */
async function securityPlugin(fastify: FastifyInstance, opts: { config: Config }) {
  // The headers' middleware is built once: @fastify/helmet built it anew for every request (a tenth of a
  // light request's time), for per-route options and CSP nonces this service does not use.
  const securityHeaders = helmet({
    // The OpenAPI page and the demo page serve their own scripts and styles from this origin.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        // Only where the service is served over https; on http://localhost it would break the pages.
        upgradeInsecureRequests: opts.config.production ? [] : null,
      },
    },
    hsts: opts.config.production,
  })
  fastify.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (error?: unknown) => done(error as Error | undefined))
  })
  await fastify.register(cors, {
    origin: opts.config.corsOrigins,
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  })
  await fastify.register(cookie)
}

export default fp(securityPlugin, { name: 'security', fastify: '5.x' })
