import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { SngineSync } from './sngine-sync.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Reconciliation with Sngine: suspends users whose account is banned, deactivated or gone, reinstates the others. */
    sngineSync: SngineSync
  }
}

/**
 * The periodic reconciliation with Sngine (`SNGINE_SYNC_INTERVAL`). It ends sessions through `fastify.sessions`,
 * so it is registered after the auth module's services; it starts once the app is ready and stops (waiting for a
 * run in progress) when it closes, before the database does.
 */
async function sngineSyncPlugin(fastify: FastifyInstance, opts: { config: Config }) {
  const sync = new SngineSync({
    db: fastify.db,
    database: fastify.database,
    sngine: fastify.sngine,
    sessions: fastify.sessions,
    audit: (event, executor) => fastify.audit.record(event, executor),
    log: fastify.log.child({ module: 'sngine-sync' }),
    intervalSeconds: opts.config.sngine.syncIntervalSeconds,
  })
  fastify.decorate('sngineSync', sync)
  fastify.addHook('onReady', async () => { sync.start() })
  fastify.addHook('onClose', async () => { await sync.stop() })
}

export default fp(sngineSyncPlugin, { name: 'sngine-sync', fastify: '5.x', dependencies: ['db', 'sngine', 'audit', 'auth-services'] })
