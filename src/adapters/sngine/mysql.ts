import {
  emailCandidates, idChunks, quoteIdentifier, selectList, SNGINE_COLUMNS, toAccount,
  type SngineColumns, type SngineDirectory,
} from './directory.js'

/** Sngine's native home: MySQL/MariaDB (`mysql://`), over a connection that only needs SELECT. */
export async function openMysqlDirectory(url: string, options: { table: string; columns?: Partial<SngineColumns> }): Promise<SngineDirectory> {
  const mysql = await import('mysql2/promise')
  const pool = mysql.createPool({
    uri: url.replace(/^mariadb:/, 'mysql:'),
    connectionLimit: 4,
    connectTimeout: 5000,
    dateStrings: true,
    supportBigNumbers: true,
    charset: 'utf8mb4',
  })
  const columns = { ...SNGINE_COLUMNS, ...options.columns }
  const table = quoteIdentifier(options.table, '`')
  const select = `select ${selectList(columns, '`')} from ${table}`
  const emailColumn = quoteIdentifier(columns.email, '`')
  const idColumn = quoteIdentifier(columns.id, '`')
  const first = async (text: string, params: unknown[]) => {
    const [rows] = await pool.execute(text, params as never[])
    const list = rows as Record<string, unknown>[]
    return list[0] ? toAccount(list[0]) : null
  }
  return {
    findByEmail: (email) => first(`${select} where lower(${emailColumn}) in (?, ?) order by ${idColumn} limit 1`, emailCandidates(email)),
    findById: (id) => first(`${select} where ${idColumn} = ? limit 1`, [id]),
    findManyByIds: async (ids) => {
      const accounts = []
      for (const chunk of idChunks(ids)) {
        // `query`, not a prepared statement: each list length would otherwise prepare and cache a statement of its own.
        // mysql2 expands the array to an escaped list of numbers.
        const [rows] = await pool.query(`${select} where ${idColumn} in (?)`, [chunk])
        accounts.push(...(rows as Record<string, unknown>[]).map(toAccount))
      }
      return accounts
    },
    close: () => pool.end(),
  }
}
