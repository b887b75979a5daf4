import {
  emailCandidates, idChunks, quoteIdentifier, selectList, SNGINE_COLUMNS, toAccount,
  type SngineColumns, type SngineDirectory,
} from './directory.js'
import { outageOptions } from '../../db/watchdog.js'

export type RawQuery = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>

/** Sngine users in PostgreSQL: the shared database by default, or its own `SNGINE_DATABASE_URL`. */
export function postgresDirectory(query: RawQuery, options: { table: string; columns?: Partial<SngineColumns>; close?: () => Promise<void> }): SngineDirectory {
  const columns = { ...SNGINE_COLUMNS, ...options.columns }
  const table = quoteIdentifier(options.table, '"')
  const select = `select ${selectList(columns, '"')} from ${table}`
  const emailColumn = quoteIdentifier(columns.email, '"')
  const idColumn = quoteIdentifier(columns.id, '"')
  const first = async (text: string, params: unknown[]) => {
    const rows = await query(text, params)
    return rows[0] ? toAccount(rows[0]) : null
  }
  return {
    // Case-insensitive, and matching the htmlentities-encoded spelling Sngine may have stored.
    findByEmail: (email) => first(`${select} where lower(${emailColumn}) in ($1, $2) order by ${idColumn} limit 1`, emailCandidates(email)),
    findById: (id) => first(`${select} where ${idColumn} = $1 limit 1`, [id]),
    findManyByIds: async (ids) => {
      const accounts = []
      for (const chunk of idChunks(ids)) {
        const rows = await query(`${select} where ${idColumn} = any($1::bigint[])`, [chunk])
        accounts.push(...rows.map(toAccount))
      }
      return accounts
    },
    close: options.close ?? (async () => {}),
  }
}

export async function openPostgresDirectory(url: string, table: string): Promise<SngineDirectory> {
  const { default: postgres } = await import('postgres')
  // Sngine's own server going away is a prompt 503 too, not a hang (src/db/watchdog.ts).
  const client = postgres(url, { max: 4, idle_timeout: 60, onnotice: () => {}, ...outageOptions(url, { connectTimeoutMs: 5000, statementTimeoutMs: 5000 }) })
  return postgresDirectory(
    async (text, params = []) => (await client.unsafe(text, params as never[])) as never,
    { table, close: () => client.end({ timeout: 5 }) },
  )
}
