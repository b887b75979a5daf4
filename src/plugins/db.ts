import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import { embeddedDir, openDatabase, type Database, type DatabaseHandle } from '../db/client.js'
import { expectedMigrationCount, migrationsApplied, runMigrations } from '../db/migrate.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Drizzle over postgres.js (`DATABASE_URL`) or embedded PGlite: same schema, same queries. */
    db: Database
    /** The handle behind `db`: raw SQL, LISTEN/NOTIFY, readiness. */
    database: DatabaseHandle & { ready(): Promise<boolean> }
  }
}

export interface DbPluginOptions {
  config: Config
  /** An already open database (tests); it is not closed with the app. */
  handle?: DatabaseHandle
  migrate?: boolean
}

async function dbPlugin(fastify: FastifyInstance, opts: DbPluginOptions) {
  const handle = opts.handle ?? await openDatabase({
    url: opts.config.database.url,
    poolMax: opts.config.database.poolMax,
    connectTimeoutMs: opts.config.database.connectTimeoutMs,
    statementTimeoutMs: opts.config.database.statementTimeoutMs,
    embeddedDir: embeddedDir(opts.config.database.dataDir),
  })
  if (!opts.handle) fastify.addHook('onClose', async () => { await handle.close() })
  if (opts.migrate !== false) await runMigrations(handle)
  const expected = await expectedMigrationCount()
  const ready = async () => {
    try {
      return await migrationsApplied(handle, expected)
    } catch {
      return false
    }
  }
  fastify.log.info({ driver: handle.driver }, 'database open')
  fastify.decorate('db', handle.db)
  fastify.decorate('database', { ...handle, ready })
}

export default fp(dbPlugin, { name: 'db', fastify: '5.x' })
