import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { loadConfig, ConfigError } from './config.js'
import { buildApp } from './app.js'
import { loggerOptions } from './logger.js'
import { seedDemoPeople } from './adapters/sngine/demo.js'

const CLOSE_GRACE_MS = 10_000

async function main() {
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`vottery: ${error.message}\n`)
      process.exit(78)
    }
    throw error
  }
  const logger = pino(loggerOptions(config))
  const app = await buildApp(config, { logger })

  // The embedded default comes with a few Sngine-shaped demo people, added once to an empty table.
  if (app.database.driver === 'pglite' && !config.sngine.url) {
    const added = await seedDemoPeople(app.database.query, config.sngine.usersTable)
    if (added > 0) app.log.warn({ added }, 'embedded database: seeded demo Sngine people (see README: try ada@example.com)')
  }

  closeWithGrace({ delay: CLOSE_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an uncaught error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })

  await app.listen({ port: config.port, host: config.host })
}

main().catch((error: unknown) => {
  process.stderr.write(`vottery: failed to start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
