import t from 'tap'
import type { Test } from 'tap'
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { addSnginePerson, createPostgresDatabase, createSngineTable } from '../helper.js'

/** Everything visible about the non-Vottery parts of a database: schemas, tables, columns, indexes, rows. */
async function snapshot(database: DatabaseHandle) {
  const schemas = await database.query<{ nspname: string }>(
    `select nspname from pg_namespace where nspname not like 'pg_%' and nspname <> 'information_schema' order by 1`)
  const columns = await database.query(
    `select table_name, column_name, data_type, column_default, is_nullable from information_schema.columns
      where table_schema = 'public' order by table_name, ordinal_position`)
  const indexes = await database.query(`select indexname, indexdef from pg_indexes where schemaname = 'public' order by 1`)
  const functions = await database.query(`select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where nspname = 'public' order by 1`)
  const types = await database.query(`select typname from pg_type t join pg_namespace n on n.oid = t.typnamespace where nspname = 'public' order by 1`)
  const extensions = await database.query(`select extname from pg_extension order by 1`)
  const rows = await database.query(`select * from public.users order by user_id`)
  return { schemas: schemas.map((s) => s.nspname), columns, indexes, functions, types, extensions, rows: JSON.stringify(rows) }
}

async function provesIsolation(t: Test, database: DatabaseHandle) {
  await createSngineTable(database)
  await addSnginePerson(database, { email: 'ada@example.com', phone: '+14155552671' })
  await addSnginePerson(database, { email: 'o&#039;brien@example.com', phone: null, banned: '1' })
  const before = await snapshot(database)
  await runMigrations(database)
  await runMigrations(database)
  const after = await snapshot(database)
  t.same(after.columns, before.columns, 'public tables and columns unchanged')
  t.same(after.indexes, before.indexes, 'public indexes unchanged')
  t.same(after.functions, before.functions, 'no functions added to public')
  t.same(after.types, before.types, 'no types added to public')
  t.same(after.extensions, before.extensions, 'no extensions installed')
  t.equal(after.rows, before.rows, 'Sngine rows untouched')
  t.same(after.schemas, [...before.schemas, 'vottery'].sort(), 'exactly one new schema: vottery')
  const bookkeeping = await database.query<{ table_schema: string }>(
    `select table_schema from information_schema.tables where table_name = '__drizzle_migrations'`)
  t.same(bookkeeping.map((r) => r.table_schema), ['vottery'], "drizzle's bookkeeping lives in vottery")
  const vottery = await database.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = 'vottery' order by 1`)
  t.ok(vottery.length >= 12, `vottery holds the service's tables (${vottery.length})`)
}



t.test('migrations on PostgreSQL leave Sngine and public alone', async (t) => {
  const url = await createPostgresDatabase(t)
  const database = await openDatabase({ url, poolMax: 2 })
  t.teardown(() => database.close())
  await provesIsolation(t, database)
})

t.test('migrations on embedded PGlite leave public alone', async (t) => {
  const database = await openDatabase({ embeddedDir: 'memory://' })
  t.teardown(() => database.close())
  await provesIsolation(t, database)
})
