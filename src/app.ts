import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { Config } from './config.js'
import type { DatabaseHandle } from './db/client.js'
import type { SngineDirectory } from './adapters/sngine/index.js'
import type { Mailer } from './adapters/mail.js'
import type { SmsGateway } from './adapters/sms.js'
import { loggerOptions } from './logger.js'
import errors, { sendError, toApiError } from './plugins/errors.js'
import validation from './plugins/validation.js'
import security from './plugins/security.js'
import rateLimit from './plugins/rate-limit.js'
import openapi from './plugins/openapi.js'
import db from './plugins/db.js'
import sngine from './plugins/sngine.js'
import delivery from './plugins/delivery.js'
import audit from './plugins/audit.js'
import health from './plugins/health.js'
import deviceCookie from './plugins/device-cookie.js'
import demo from './plugins/demo.js'
import metrics from './plugins/metrics.js'
import pressure from './plugins/pressure.js'
import authGuard from './plugins/auth-guard.js'
import cryptoServices from './modules/crypto/plugin.js'
import userServices from './modules/users/plugin.js'
import deviceServices from './modules/devices/plugin.js'
import authServices from './modules/auth/plugin.js'
import sngineSync from './modules/users/sync-plugin.js'
import authModule from './modules/auth/index.js'
import usersModule from './modules/users/index.js'
import cryptoModule from './modules/crypto/index.js'
import devicesModule from './modules/devices/index.js'

/** What the outside world is made of; tests hand in their own where they need to. */
export interface AppDependencies {
  database?: DatabaseHandle
  sngine?: SngineDirectory
  mailer?: Mailer
  sms?: SmsGateway
  /** Pino options or an instance; defaults to the configured logger. */
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

export async function buildApp(config: Config, deps: AppDependencies = {}): Promise<FastifyInstance> {
  const logging = deps.logger && typeof (deps.logger as { child?: unknown }).child === 'function'
    ? { loggerInstance: deps.logger as FastifyServerOptions['loggerInstance'] }
    : { logger: (deps.logger as FastifyServerOptions['logger']) ?? loggerOptions(config) }
  const app = Fastify({
    ...logging,
    // Fastify takes a hop count too; its types leave numbers out.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    bodyLimit: config.bodyLimit,
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
    return503OnClosing: true,
    // A first embedded start runs initdb in WebAssembly, which takes seconds on a small machine.
    pluginTimeout: 60_000,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    // A URL the router cannot decode, or a path parameter over the limit, is refused before any hook runs:
    // without this Fastify answers with its own body and no request id.
    frameworkErrors: (error, request, reply) => {
      const apiError = toApiError(error)
      reply.header('x-request-id', request.id)
      request.log.info({ errorCode: apiError?.apiCode, status: apiError?.statusCode }, 'request refused')
      sendError(reply, apiError)
    },
  })

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  drainOnClose(app)

  await app.register(validation)
  await app.register(security, { config })
  await app.register(rateLimit, { config })
  await app.register(errors)
  await app.register(metrics, { config })
  await app.register(pressure, { config })
  await app.register(openapi)
  await app.register(db, { config, handle: deps.database })
  await app.register(sngine, { config, directory: deps.sngine })
  await app.register(delivery, { config, mailer: deps.mailer, sms: deps.sms })
  await app.register(audit)
  await app.register(health)
  await app.register(deviceCookie, { config })
  await app.register(cryptoServices, { config })
  await app.register(authGuard)
  // Services the modules call one another through.
  await app.register(userServices, { config })
  await app.register(deviceServices, { config })
  await app.register(authServices, { config })
  await app.register(sngineSync, { config })

  await app.register(cryptoModule, { config })
  await app.register(authModule, { config, prefix: '/api' })
  await app.register(usersModule, { config, prefix: '/api' })
  await app.register(devicesModule, { config, prefix: '/api' })

  if (config.demoUi) await app.register(demo)

  return app
}

/** How often idle keep-alive connections are reaped while the server is closing. */
const DRAIN_REAP_MS = 100

/**
 * `server.close()` ends the keep-alive connections that are idle at that moment, once. A connection whose
 * reply was still in flight goes idle afterwards and would hold the close open until the client drops it or
 * its keep-alive timeout (72 s) ends it, far past the grace period. So once closing starts, every reply says
 * `Connection: close`, and connections that go idle are ended as they do.
 */
function drainOnClose(app: FastifyInstance) {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    if (!app.server.listening) return
    const reaper = setInterval(() => app.server.closeIdleConnections(), DRAIN_REAP_MS)
    reaper.unref()
    app.server.once('close', () => clearInterval(reaper))
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}
