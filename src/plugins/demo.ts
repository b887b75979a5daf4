import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

/** The page's files sit beside the code: src/demo in development, dist/demo in a build. */
const DEMO_DIR = fileURLToPath(new URL('../demo/', import.meta.url))

function simpleWebAuthnBundleDir(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser')
  return join(dirname(dirname(entry)), 'dist', 'bundle')
}

/**
 * `/demo`: a small page that walks a newcomer through the three onboarding steps in a real browser,
 * then shows status, devices and sessions, and a passkey login. Only when DEMO_UI is on.
 */
async function demoPlugin(fastify: FastifyInstance) {
  await fastify.register(fastifyStatic, { root: DEMO_DIR, prefix: '/demo/', index: 'index.html', decorateReply: false })
  await fastify.register(fastifyStatic, { root: simpleWebAuthnBundleDir(), prefix: '/demo/vendor/', decorateReply: false, allowedPath: (path) => path === '/index.umd.min.js' })
  fastify.get('/demo', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/demo/'))
}

export default fp(demoPlugin, { name: 'demo', fastify: '5.x' })
