import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { VerificationFlowService, type AuditSink } from './flow-service.js'
import { PasskeyService } from './passkey-service.js'
import { startRetentionSweeps, type RetentionSweeper } from './retention.js'
import { otpRoutes } from './routes.js'
import { passkeyRoutes } from './passkey-routes.js'
import { sessionRoutes, tokenRoutes } from './session-routes.js'
import { signedInStatus } from './status.js'
import { ACCEPT_CH } from '../devices/detect.js'

export interface AuthModuleOptions {
  config: Config
}

/**
 * The auth module: onboarding flows (email and SMS codes, then the passkey), passkey sign-in, tokens and
 * sessions. Every `/api/auth` request carries a `vt_device` cookie: "this device". The session service
 * service and passkey administration are shared (`fastify.sessions`, `fastify.passkeys`, ./plugin.ts) so
 * other modules can end sessions and disable passkeys.
 */
export default async function authModule(fastify: FastifyInstance, opts: AuthModuleOptions) {
  const log = fastify.log.child({ module: 'auth' })
  const audit: AuditSink = (event) => fastify.audit.record(event)
  const flows = new VerificationFlowService({
    db: fastify.db,
    config: opts.config,
    sngine: fastify.sngine,
    hasher: fastify.crypto,
    mailer: fastify.mailer,
    sms: fastify.sms,
    log,
    metrics: fastify.metrics,
    audit,
  })
  const passkeys = new PasskeyService({
    db: fastify.db,
    config: opts.config,
    flows,
    sngine: fastify.sngine,
    hasher: fastify.crypto,
    users: fastify.users,
    devices: fastify.devices,
    sessions: fastify.sessions,
    mailer: fastify.mailer,
    sms: fastify.sms,
    log,
    metrics: fastify.metrics,
    audit,
  })
  const statusDeps = { db: fastify.db, users: fastify.users, devices: fastify.devices, sessions: fastify.sessions }

  // Expired challenges and flows, long-ended sessions and their refresh tokens: deleted by every instance,
  // from the moment the app is ready until it closes.
  let retention: RetentionSweeper | null = null
  fastify.addHook('onReady', async () => { retention = startRetentionSweeps({ db: fastify.db, log }) })
  fastify.addHook('onClose', async () => {
    await retention?.stop()
    await passkeys.settle()
  })

  await fastify.register(async (auth) => {
    auth.addHook('onRequest', fastify.ensureDeviceCookie)
    // Chromium then sends the high-entropy Client Hints (platform version, model) on later requests, sign-ins included.
    auth.addHook('onRequest', async (_request, reply) => { reply.header('accept-ch', ACCEPT_CH) })
    await auth.register(otpRoutes, { flows, signedIn: (request) => signedInStatus(statusDeps, request.auth!) })
    await auth.register(passkeyRoutes, { passkeys, config: opts.config })
    await auth.register(tokenRoutes, { sessions: fastify.sessions, config: opts.config })
  })
  await fastify.register(sessionRoutes, { sessions: fastify.sessions, config: opts.config })
}
