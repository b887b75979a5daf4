import { loadConfig } from '../config.js'
import { embeddedDir, openDatabase } from './client.js'
import { runMigrations } from './migrate.js'

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded database under DATA_DIR. */
const config = loadConfig()
const handle = await openDatabase({ url: config.database.url, embeddedDir: embeddedDir(config.database.dataDir) })
try {
  await runMigrations(handle)
  console.log(`migrations applied (${handle.driver})`)
} finally {
  await handle.close()
}
