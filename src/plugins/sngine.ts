import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import { openSngineDirectory, type SngineDirectory } from '../adapters/sngine/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sngine's users, read-only. */
    sngine: SngineDirectory
  }
}

async function snginePlugin(fastify: FastifyInstance, opts: { config: Config; directory?: SngineDirectory }) {
  const directory = opts.directory ?? await openSngineDirectory({
    url: opts.config.sngine.url,
    table: opts.config.sngine.usersTable,
    database: fastify.database,
  })
  if (!opts.directory) fastify.addHook('onClose', async () => { await directory.close() })
  fastify.decorate('sngine', directory)
}

export default fp(snginePlugin, { name: 'sngine', fastify: '5.x', dependencies: ['db'] })
