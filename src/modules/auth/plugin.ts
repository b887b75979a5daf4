import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { SessionService, SessionView } from './session-service.js'
import { PasskeyCredentials } from './credentials.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sessions and refresh tokens: open, refresh, revoke (one, a user's, a device's), list. */
    sessions: SessionService
    /** Passkeys: disable those of a device or of a user. */
    passkeys: PasskeyCredentials
  }
}

/**
 * The auth module's shared services, registered before the modules: the devices and users modules end
 * sessions and disable passkeys through them. It also keeps `fastify.revokedSessions` current on this
 * instance, from every instance's revocations.
 */
async function authServices(fastify: FastifyInstance, opts: { config: Config }) {
  const sessions = new SessionService({
    db: fastify.db,
    database: fastify.database,
    config: opts.config,
    tokens: fastify.tokens,
    revokedSessions: fastify.revokedSessions,
    rolesOf: (userId, db) => fastify.users.rolesOf(db ?? fastify.db, userId),
    log: fastify.log.child({ module: 'sessions' }),
    metrics: fastify.metrics,
    audit: (event) => fastify.audit.record(event),
    devices: fastify.devices,
  })
  fastify.addSchema(SessionView)
  await sessions.startRevocationFeed()
  fastify.addHook('onClose', async () => { await sessions.stopRevocationFeed() })
  fastify.decorate('sessions', sessions)
  fastify.decorate('passkeys', new PasskeyCredentials(fastify.db))
}

export default fp(authServices, { name: 'auth-services', fastify: '5.x', dependencies: ['db', 'crypto', 'users', 'devices', 'metrics', 'audit'] })
