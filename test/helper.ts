import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../src/config.js'
import { buildApp, type AppDependencies } from '../src/app.js'
import { openDatabase, type DatabaseHandle } from '../src/db/client.js'
import { MIGRATIONS_FOLDER, runMigrations } from '../src/db/migrate.js'
import { loggerOptions } from '../src/logger.js'

type Tap = { teardown(fn: () => unknown): void }

/** Base environment of every test app; a test overrides what it is about. */
export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'info',
  RATE_LIMIT_PER_MINUTE: '100000',
  // A loaded CI machine must not shed test requests; the back-pressure test turns it on itself.
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  WEBAUTHN_RP_ID: 'localhost',
  WEBAUTHN_ORIGINS: 'http://localhost:3000',
  CORS_ORIGINS: 'http://localhost:3000',
  VOTTERY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
}

export const usingPostgres = Boolean(process.env.DATABASE_URL)
/** The local PostgreSQL server, for tests that need PostgreSQL whatever the suite runs on. */
export const POSTGRES_URL = process.env.DATABASE_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ ...TEST_ENV, ...env })
}

/** A fresh PostgreSQL database on the local server, dropped at teardown. */
export async function createPostgresDatabase(t: Tap, baseUrl = POSTGRES_URL): Promise<string> {
  const { default: postgres } = await import('postgres')
  const name = `vottery_t_${randomBytes(6).toString('hex')}`
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  t.teardown(async () => {
    const cleanup = postgres(baseUrl, { max: 1, onnotice: () => {} })
    await cleanup.unsafe(`drop database if exists ${name} with (force)`)
    await cleanup.end()
  })
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A fresh embedded cluster costs seconds (initdb in WebAssembly); a migrated one is made once,
 * dumped to a file named after the migrations, and every test starts from a copy of it.
 */
export async function pgliteSnapshot(): Promise<Blob> {
  const hash = createHash('sha256')
  for (const name of (await readdir(MIGRATIONS_FOLDER, { recursive: true })).sort()) {
    if (name.endsWith('.sql') || name.endsWith('.json')) hash.update(name).update(await readFile(join(MIGRATIONS_FOLDER, name)))
  }
  const file = join(tmpdir(), `vottery-pglite-${hash.digest('hex').slice(0, 16)}.tar`)
  try {
    return new Blob([await readFile(file)])
  } catch {
    const handle = await openDatabase({ embeddedDir: 'memory://' })
    await runMigrations(handle)
    const client = (handle.db as unknown as { $client: import('@electric-sql/pglite').PGlite }).$client
    const dump = await client.dumpDataDir('none')
    await handle.close()
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()))
    await rename(partial, file)
    return dump
  }
}

/**
 * The database the suite runs on: a fresh PostgreSQL database when DATABASE_URL is set,
 * otherwise an in-memory PGlite. Migrated unless told otherwise; closed at teardown.
 */
export async function openTestDatabase(t: Tap, options: { migrate?: boolean } = {}): Promise<DatabaseHandle & { url?: string }> {
  const url = usingPostgres ? await createPostgresDatabase(t) : undefined
  const migrate = options.migrate !== false
  const handle = await openDatabase({
    url,
    poolMax: 5,
    embeddedDir: 'memory://',
    ...(!url && migrate ? { embeddedSnapshot: await pgliteSnapshot() } : {}),
  })
  t.teardown(() => handle.close())
  if (url && migrate) await runMigrations(handle)
  return Object.assign(handle, { url })
}

export interface TestApp {
  app: FastifyInstance
  database: DatabaseHandle & { url?: string }
  config: Config
  /** Every log line the app wrote, as JSON text. */
  logs: string[]
}

/** Builds the real app on a fresh database with test configuration; closed at teardown. */
export interface BuildOptions {
  env?: Record<string, string>
  deps?: AppDependencies
  database?: DatabaseHandle & { url?: string }
  /** Extra routes or plugins, registered before the app is ready (tests of the shared plumbing). */
  register?: (app: FastifyInstance) => void | Promise<void>
}

export async function build(t: Tap, options: BuildOptions = {}): Promise<TestApp> {
  const database = options.database ?? await openTestDatabase(t)
  const config = testConfig({ ...(database.url ? { DATABASE_URL: database.url } : {}), ...options.env })
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(...String(chunk).split('\n').filter(Boolean))
      callback()
    },
  })
  const logger = pino(loggerOptions(config), sink)
  const app = await buildApp(config, { logger, database, ...options.deps })
  t.teardown(() => app.close())
  await options.register?.(app)
  await app.ready()
  return { app, database, config, logs }
}

/** Sngine 3.x shaped users table in the given database's public schema. */
export async function createSngineTable(database: DatabaseHandle, table = 'public.users'): Promise<void> {
  await database.query(`create table ${table} (
    user_id bigserial primary key,
    user_name varchar(64) not null default '',
    user_email varchar(64) not null,
    user_phone varchar(64),
    user_firstname varchar(256) not null default '',
    user_lastname varchar(256) not null default '',
    user_gender varchar(16),
    user_birthdate date,
    user_activated char(1) not null default '1',
    user_banned char(1) not null default '0',
    user_email_verified char(1) not null default '1',
    user_phone_verified char(1) not null default '1',
    user_group smallint not null default 3
  )`)
}

export interface SnginePerson {
  email: string
  phone?: string | null
  firstName?: string
  lastName?: string
  gender?: string | null
  birthDate?: string | null
  activated?: '0' | '1'
  banned?: '0' | '1'
}

export async function addSnginePerson(database: DatabaseHandle, person: SnginePerson, table = 'public.users'): Promise<number> {
  const rows = await database.query<{ user_id: number | string }>(
    `insert into ${table} (user_email, user_phone, user_firstname, user_lastname, user_gender, user_birthdate, user_activated, user_banned)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning user_id`,
    [person.email, person.phone ?? null, person.firstName ?? 'Test', person.lastName ?? 'Person', person.gender ?? null,
      person.birthDate ?? null, person.activated ?? '1', person.banned ?? '0'],
  )
  return Number(rows[0]!.user_id)
}

export interface TestUser {
  userId: string
  sessionId: string
  roles: string[]
  token: string
  /** `{ authorization: 'Bearer …' }`, ready for `app.inject`. */
  headers: { authorization: string }
}

/**
 * A Vottery user (with a session) inserted straight into the database, and an access token minted
 * for it by `app.tokens`: for tests of routes behind the guard.
 */
export async function createTestUser(app: FastifyInstance, options: { roles?: string[]; email?: string } = {}): Promise<TestUser> {
  const { users, userRoles, sessions } = await import('../src/db/schema/index.js')
  const roles = options.roles ?? ['voter']
  const email = options.email ?? `user-${randomBytes(4).toString('hex')}@example.com`
  const [user] = await app.db.insert(users).values({
    sngineUserId: Number.parseInt(randomBytes(5).toString('hex'), 16),
    displayName: 'Test User',
    emailHmac: app.crypto.lookupHash(email, 'users.email'),
    emailEnc: await app.crypto.seal(email, 'users.email'),
  }).returning({ id: users.id })
  const userId = user!.id
  if (roles.length > 0) await app.db.insert(userRoles).values(roles.map((role) => ({ userId, role })))
  const now = Date.now()
  const [session] = await app.db.insert(sessions).values({
    userId,
    idleExpiresAt: new Date(now + 86_400_000),
    expiresAt: new Date(now + 86_400_000),
  }).returning({ id: sessions.id })
  const sessionId = session!.id
  const { token } = await app.tokens.signAccessToken({ userId, sessionId, roles })
  return { userId, sessionId, roles, token, headers: { authorization: `Bearer ${token}` } }
}

/**
 * A migrated database that a child process (a CLI command) can open too: a fresh PostgreSQL database
 * when the suite runs on PostgreSQL, else an embedded cluster on disk under `DATA_DIR`. `env` points
 * a configuration at it; `open` gives this process a handle (close it before a child opens PGlite).
 */
export async function openSharedDatabase(t: Tap): Promise<{ env: Record<string, string>; open: () => Promise<DatabaseHandle> }> {
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { embeddedDir } = await import('../src/db/client.js')
  const dataDir = await mkdtemp(join(tmpdir(), 'vottery-shared-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  if (usingPostgres) {
    const url = await createPostgresDatabase(t)
    const handle = await openDatabase({ url, poolMax: 2 })
    await runMigrations(handle)
    await handle.close()
    return { env: { DATABASE_URL: url, DATA_DIR: dataDir }, open: () => openDatabase({ url, poolMax: 5 }) }
  }
  const handle = await openDatabase({ embeddedDir: embeddedDir(dataDir), embeddedSnapshot: await pgliteSnapshot() })
  await handle.close()
  return { env: { DATA_DIR: dataDir }, open: () => openDatabase({ embeddedDir: embeddedDir(dataDir) }) }
}
