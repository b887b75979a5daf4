import type { DatabaseHandle } from '../../db/client.js'
import type { SngineDirectory } from './directory.js'
import { openPostgresDirectory, postgresDirectory } from './postgres.js'
import { openMysqlDirectory } from './mysql.js'

export * from './directory.js'

/** The directory named by configuration: `SNGINE_DATABASE_URL` (postgres or mysql), else the app's own database. */
export async function openSngineDirectory(options: { url?: string; table: string; database?: DatabaseHandle }): Promise<SngineDirectory> {
  if (!options.url) {
    if (!options.database) throw new Error('the Sngine directory needs SNGINE_DATABASE_URL or the shared database')
    return postgresDirectory(options.database.query, { table: options.table })
  }
  if (/^(mysql|mariadb):/.test(options.url)) return openMysqlDirectory(options.url, { table: options.table })
  return openPostgresDirectory(options.url, options.table)
}
