import { loadConfig } from '../config.js'
import { embeddedDir, openDatabase } from '../db/client.js'
import { seedDemoPeople } from '../adapters/sngine/demo.js'

/**
 * `npm run seed:demo`: a Sngine-shaped users table with demo people, in SNGINE_DATABASE_URL (PostgreSQL),
 * else DATABASE_URL, else the embedded database. Never into a table that already has rows.
 */
const config = loadConfig()
const url = config.sngine.url ?? config.database.url
if (url && !/^postgres/.test(url)) {
  console.error('seed:demo writes a PostgreSQL table; point SNGINE_DATABASE_URL at PostgreSQL or leave it unset')
  process.exit(2)
}
const handle = await openDatabase({ url, embeddedDir: embeddedDir(config.database.dataDir) })
try {
  const added = await seedDemoPeople(handle.query, config.sngine.usersTable)
  console.log(added > 0 ? `added ${added} demo people to ${config.sngine.usersTable}` : `${config.sngine.usersTable} already has rows; nothing added`)
} finally {
  await handle.close()
}
