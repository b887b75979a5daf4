import { fileURLToPath } from 'node:url'
import { readFile } from 'node:fs/promises'
import type { DatabaseHandle } from './client.js'

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))
export const MIGRATIONS_SCHEMA = 'vottery'
export const MIGRATIONS_TABLE = '__drizzle_migrations'
const MIGRATION_LOCK_KEY = 7_265_310

const migrationConfig = { migrationsFolder: MIGRATIONS_FOLDER, migrationsSchema: MIGRATIONS_SCHEMA, migrationsTable: MIGRATIONS_TABLE }

/** Applies every pending migration in `drizzle/`; drizzle's bookkeeping stays inside the `vottery` schema. */
export async function runMigrations(handle: DatabaseHandle): Promise<void> {
  const { migrate } = handle.driver === 'postgres'
    ? await import('drizzle-orm/postgres-js/migrator')
    : await import('drizzle-orm/pglite/migrator')
  // Several instances may start at once: one applies, the others wait on the lock. The migrations themselves
  // run without the requests' short statement timeout (an index on a large table takes its time).
  await handle.withAdvisoryLock(MIGRATION_LOCK_KEY, () => handle.withLongStatements((db) => migrate(db as never, migrationConfig)))
}

/** Number of migrations shipped with this build. */
export async function expectedMigrationCount(): Promise<number> {
  const journal = JSON.parse(await readFile(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: unknown[] }
  return journal.entries.length
}

/** True when the database has every migration of this build applied. */
export async function migrationsApplied(handle: DatabaseHandle, expected: number): Promise<boolean> {
  const rows = await handle.query<{ n: number | string }>(
    `select count(*)::int as n from "${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}"`,
  )
  return Number(rows[0]?.n ?? 0) >= expected
}
