import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { openDatabase } from '../../../src/db/client.js'
import { runMigrations } from '../../../src/db/migrate.js'
import { SNGINE_SYNC_EMPTY_GUARD, SNGINE_SYNC_LOCK_KEY, suspensionReason } from '../../../src/modules/users/sngine-sync.js'
import { syncSngineCommand } from '../../../src/commands/sync-sngine.js'
import { startRig, type Rig } from '../../fixtures/onboarding.js'
import { SoftwareAuthenticator } from '../../fixtures/authenticator.js'
import { build, createPostgresDatabase, createTestUser, MYSQL_URL, testConfig, usingPostgres, type SnginePerson } from '../../helper.js'

/** The contract: a revoked session's access tokens stop working on every instance "within seconds". */
const PROPAGATION_LIMIT_MS = 2000

const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }
const CARL = { email: 'carl@example.com', phone: '+14155550111' }
const DEE = { email: 'dee@example.com', phone: '+14155550122' }

/** The Sngine side of a test: whatever database it lives in, people are added and their accounts changed. */
interface SngineSide {
  add(person: SnginePerson): Promise<number>
  set(id: number, flags: { banned?: '0' | '1'; activated?: '0' | '1' }): Promise<void>
  remove(id: number): Promise<void>
}

function postgresSide(rig: Rig): SngineSide {
  return {
    add: (person) => rig.addPerson(person),
    set: async (id, flags) => {
      for (const [flag, value] of Object.entries(flags)) await rig.database.query(`update public.users set user_${flag} = $1 where user_id = $2`, [value, id])
    },
    remove: async (id) => { await rig.database.query('delete from public.users where user_id = $1', [id]) },
  }
}

/** A Sngine-shaped table in MariaDB (Sngine's own database) and the environment that points the app at it. */
async function mariadbSide(t: Test): Promise<{ side: SngineSide; env: Record<string, string> }> {
  const mysql = await import('mysql2/promise')
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  const table = `sngine_sync_${randomBytes(4).toString('hex')}`
  await admin.query(`create table ${table} (
    user_id int unsigned not null auto_increment primary key, user_email varchar(64) not null, user_phone varchar(64) null,
    user_firstname varchar(256) null, user_lastname varchar(256) null, user_gender tinyint unsigned null, user_birthdate date null,
    user_activated enum('0','1') not null default '0', user_banned enum('0','1') not null default '0',
    user_email_verified enum('0','1') not null default '1', user_phone_verified enum('0','1') not null default '1',
    user_group tinyint unsigned not null default 3) default charset=utf8mb4 collate=utf8mb4_bin`)
  t.teardown(async () => {
    await admin.query(`drop table if exists ${table}`)
    await admin.end()
  })
  const side: SngineSide = {
    add: async (person) => {
      const [result] = await admin.execute(`insert into ${table} (user_email, user_phone, user_firstname, user_lastname, user_gender, user_birthdate,
        user_activated, user_banned) values (?, ?, ?, ?, ?, ?, ?, ?)`, [person.email, person.phone ?? null, person.firstName ?? 'Test',
        person.lastName ?? 'Person', person.gender ?? null, person.birthDate ?? null, person.activated ?? '1', person.banned ?? '0'])
      return (result as { insertId: number }).insertId
    },
    set: async (id, flags) => {
      for (const [flag, value] of Object.entries(flags)) await admin.execute(`update ${table} set user_${flag} = ? where user_id = ?`, [value, id])
    },
    remove: async (id) => { await admin.execute(`delete from ${table} where user_id = ?`, [id]) },
  }
  return { side, env: { SNGINE_DATABASE_URL: MYSQL_URL, SNGINE_USERS_TABLE: table } }
}

/** Polls until `app` refuses the token; false if it never did within the limit. */
async function refusedWithin(app: FastifyInstance, headers: Record<string, string>, limitMs: number): Promise<boolean> {
  const started = Date.now()
  while (Date.now() - started <= limitMs) {
    if ((await app.inject({ method: 'GET', url: '/api/users/profile', headers })).statusCode === 401) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

async function statusOf(rig: Rig, userId: string): Promise<string | undefined> {
  const rows = await rig.database.query<{ status: string }>('select status from vottery.users where id = $1', [userId])
  return rows[0]?.status
}

function refusedAsSuspended(t: Test, reply: LightMyRequestResponse, what: string) {
  t.equal(reply.statusCode, 403, `${what}: 403`)
  t.match(reply.json(), { statusCode: 403, code: 'forbidden', message: /suspended/, details: { status: 'suspended' } }, `${what}: says the account is suspended`)
}

/**
 * Ada is banned then reinstated, Carl deactivated, Dee deleted, Bob left alone. `runner` is the instance that
 * runs the reconciliation; the rig's app is where the people are.
 */
async function banAndReinstate(t: Test, rig: Rig, sngine: SngineSide, runner: FastifyInstance) {
  const ids = {
    ada: await sngine.add({ ...ADA, firstName: 'Ada' }),
    bob: await sngine.add({ ...BOB, firstName: 'Bob' }),
    carl: await sngine.add({ ...CARL, firstName: 'Carl' }),
    dee: await sngine.add({ ...DEE, firstName: 'Dee' }),
  }
  const adaKey = new SoftwareAuthenticator()
  const phone = rig.device()
  const ada = await phone.onboard(ADA, adaKey)
  const bob = await rig.device('203.0.113.11').onboard(BOB)
  const carl = await rig.device('203.0.113.12').onboard(CARL)
  const dee = await rig.device('203.0.113.13').onboard(DEE)
  // Ada starts setting up a tablet: the options are given while she is in good standing.
  const tablet = rig.device('203.0.113.14')
  const tabletKey = new SoftwareAuthenticator()
  const tabletFlow = await tablet.verifyEmail(ADA.email)
  await tablet.verifyPhone(tabletFlow, ADA.phone)
  const creation = await tablet.post('/api/auth/biometric/options', { flowId: tabletFlow })
  t.equal(creation.statusCode, 200)

  t.match(await runner.sngineSync.run(), { ran: true, checked: 4, suspended: 0, reinstated: 0, sessionsRevoked: 0 }, 'all in good standing: nothing to do')

  await sngine.set(ids.ada, { banned: '1' })
  await sngine.set(ids.carl, { activated: '0' })
  await sngine.remove(ids.dee)
  t.match(await runner.sngineSync.run(), { ran: true, checked: 4, suspended: 3, reinstated: 0, sessionsRevoked: 3 })

  for (const [name, person] of Object.entries({ ada, carl, dee })) {
    t.equal(await statusOf(rig, person.userId), 'suspended', `${name} is suspended`)
    t.ok(await refusedWithin(rig.app, person.headers, PROPAGATION_LIMIT_MS), `${name}'s access token is refused within the revocation window`)
  }
  t.equal(await statusOf(rig, bob.userId), 'active')
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: bob.headers })).statusCode, 200, 'Bob is untouched')

  const refresh = await phone.refresh()
  refusedAsSuspended(t, refresh, 'refresh')
  t.equal(phone.refreshToken, undefined, 'the refresh cookie is cleared')
  refusedAsSuspended(t, await phone.passkeyLogin(adaKey), 'passkey sign-in')

  const audit = await rig.app.audit.list({ limit: 10, type: 'user.suspended' })
  const reasons = Object.fromEntries(audit.items.map((event) => [event.userId, event.data.reason]))
  t.same(reasons, { [ada.userId]: 'banned', [carl.userId]: 'not_activated', [dee.userId]: 'gone' }, 'one user.suspended event each, with the reason')
  t.match(audit.items[0], { actor: 'system', data: { sngineUserId: Number } })
  const ended = await rig.database.query<{ revoked_reason: string }>('select revoked_reason from vottery.sessions where user_id = $1', [ada.userId])
  t.same(ended.map((row) => row.revoked_reason), ['user_suspended'])

  t.match(await runner.sngineSync.run(), { ran: true, checked: 4, suspended: 0, reinstated: 0, sessionsRevoked: 0 }, 'a second run changes nothing')

  // Ada's account is in good standing on Sngine again, but this has not been reconciled yet.
  await sngine.set(ids.ada, { banned: '0' })
  refusedAsSuspended(t, await phone.passkeyLogin(adaKey), 'passkey sign-in before reconciliation')
  const capture = await tablet.post('/api/auth/capture-biometric', { flowId: tabletFlow, credential: tabletKey.createRegistrationResponse(creation.json()) })
  refusedAsSuspended(t, capture, 'capture-biometric')
  const credentials = await rig.database.query('select id from vottery.webauthn_credentials where user_id = $1', [ada.userId])
  t.equal(credentials.length, 1, 'the refused registration stored nothing')
  refusedAsSuspended(t, await tablet.post('/api/auth/biometric/options', { flowId: tabletFlow }), 'biometric options')

  t.match(await runner.sngineSync.run(), { ran: true, checked: 4, suspended: 0, reinstated: 1, sessionsRevoked: 0 })
  t.equal(await statusOf(rig, ada.userId), 'active')
  const reinstated = await rig.app.audit.list({ limit: 10, type: 'user.reinstated' })
  t.match(reinstated.items, [{ userId: ada.userId, actor: 'system' }])
  const back = await phone.passkeyLogin(adaKey)
  t.equal(back.statusCode, 200, 'Ada signs in again with her passkey')
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: { authorization: `Bearer ${back.json().accessToken}` } })).statusCode, 200)
  t.equal((await phone.refresh()).statusCode, 200, 'and refreshes')
  t.equal(await statusOf(rig, carl.userId), 'suspended', 'Carl stays suspended')
  t.equal(await statusOf(rig, dee.userId), 'suspended', 'Dee stays suspended')

  // A suspension whose sessions were never ended (a run that failed half-way): the next run ends them.
  await sngine.set(ids.bob, { banned: '1' })
  await rig.database.query(`update vottery.users set status = 'suspended' where id = $1`, [bob.userId])
  t.match(await runner.sngineSync.run(), { ran: true, suspended: 0, reinstated: 0, sessionsRevoked: 1 }, 'the sweep ends the leftover session')
  t.ok(await refusedWithin(rig.app, bob.headers, PROPAGATION_LIMIT_MS), 'Bob\'s access token is refused')
}

t.test('PostgreSQL Sngine directory: banned, deactivated and gone accounts are suspended; reinstated ones sign in again', async (t) => {
  const rig = await startRig(t, { env: { SNGINE_SYNC_INTERVAL: '0' } })
  // The reconciliation runs on another instance; the revocations reach this one.
  const database = usingPostgres
    ? Object.assign(await openDatabase({ url: rig.database.url, poolMax: 3 }), { url: rig.database.url })
    : rig.database
  if (usingPostgres) t.teardown(() => database.close())
  const other = await build(t, { database, env: { MAIL_TRANSPORT: 'log', SMS_TRANSPORT: 'log', SNGINE_SYNC_INTERVAL: '0' } })
  await banAndReinstate(t, rig, postgresSide(rig), other.app)
})

t.test('MariaDB Sngine directory: the same', async (t) => {
  const { side, env } = await mariadbSide(t)
  const rig = await startRig(t, { env: { ...env, SNGINE_SYNC_INTERVAL: '0' } })
  await banAndReinstate(t, rig, side, rig.app)
})

t.test('only one instance runs it at a time: PostgreSQL advisory lock', async (t) => {
  // Always on PostgreSQL: an embedded database has a single process, and nothing to exclude.
  const url = await createPostgresDatabase(t)
  const handle = Object.assign(await openDatabase({ url, poolMax: 5 }), { url })
  t.teardown(() => handle.close())
  await runMigrations(handle)
  const rig = await startRig(t, { database: handle, env: { SNGINE_SYNC_INTERVAL: '0' } })
  const sngine = postgresSide(rig)
  const id = await sngine.add(ADA)
  const ada = await rig.device().onboard(ADA)
  await sngine.set(id, { banned: '1' })

  const { default: postgres } = await import('postgres')
  const holder = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  const reserved = await holder.reserve()
  await reserved`begin`
  const [held] = await reserved`select pg_try_advisory_xact_lock(${SNGINE_SYNC_LOCK_KEY}::bigint) as locked`
  t.equal(held!.locked, true, 'another instance is running it')
  t.same(await rig.app.sngineSync.run(), { ran: false, reason: 'locked' }, 'this one skips its turn')
  t.equal(await statusOf(rig, ada.userId), 'active', 'and changes nothing')
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: ada.headers })).statusCode, 200)

  const out = { stdout: '', stderr: '' }
  const io = { stdout: (s: string) => { out.stdout += s }, stderr: (s: string) => { out.stderr += s }, readStdin: async () => '' }
  t.equal(await syncSngineCommand(testConfig({ DATABASE_URL: url }), [], io), 75, 'the command says "try later" (EX_TEMPFAIL)')
  t.match(out.stderr, /another instance/)
  t.equal(out.stdout, '')

  await reserved`commit`
  reserved.release()
  t.match(await rig.app.sngineSync.run(), { ran: true, suspended: 1 }, 'once the lock is free, it runs')
  t.equal(await statusOf(rig, ada.userId), 'suspended')
})

t.test('the periodic run: every SNGINE_SYNC_INTERVAL seconds, a failed run logged and retried, 0 turns it off', async (t) => {
  const off = await build(t, { env: { SNGINE_SYNC_INTERVAL: '0' } })
  t.equal(off.app.sngineSync.scheduled, false, 'SNGINE_SYNC_INTERVAL=0: no timer')

  const rig = await startRig(t, { env: { SNGINE_SYNC_INTERVAL: '1' } })
  t.equal(rig.app.sngineSync.scheduled, true)
  const id = await rig.addPerson(ADA)
  const ada = await rig.device().onboard(ADA)

  // Sngine unreadable: the runs fail, are logged, and the service carries on.
  await rig.database.query('alter table public.users rename to users_away')
  const failed = () => rig.logs.some((line) => line.includes('Sngine reconciliation failed'))
  for (let waited = 0; !failed() && waited < 20_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(failed(), 'a failed run is logged')
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: ada.headers })).statusCode, 200, 'the service carries on')
  t.equal(await statusOf(rig, ada.userId), 'active', 'an unreadable Sngine suspends nobody')

  await rig.database.query('alter table public.users_away rename to users')
  await rig.database.query(`update public.users set user_banned = '1' where user_id = $1`, [id])
  for (let waited = 0; (await statusOf(rig, ada.userId)) === 'active' && waited < 20_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(await statusOf(rig, ada.userId), 'suspended', 'a later run suspends the banned account')
  t.ok(await refusedWithin(rig.app, ada.headers, PROPAGATION_LIMIT_MS), 'and her token is refused')

  await rig.app.close()
  t.equal(rig.app.sngineSync.scheduled, false, 'closing the app stops the timer')
})

t.test('a directory that knows none of a batch of accounts suspends nobody: the run fails instead', async (t) => {
  const rig = await startRig(t, { env: { SNGINE_SYNC_INTERVAL: '0' } })
  // Vottery users whose Sngine ids the (empty) table does not have: a table emptied or swapped by mistake.
  const people = []
  for (let i = 0; i < SNGINE_SYNC_EMPTY_GUARD; i++) people.push(await createTestUser(rig.app))
  await t.rejects(rig.app.sngineSync.run(), /knows none of/)
  for (const person of people) t.equal(await statusOf(rig, person.userId), 'active')
  t.equal((await rig.app.inject({ method: 'GET', url: '/api/users/profile', headers: people[0]!.headers })).statusCode, 200, 'sessions untouched')

  // One account Sngine does know is enough to tell a real directory: the others are gone, and suspended.
  const id = await rig.addPerson(ADA)
  const ada = await rig.device().onboard(ADA)
  t.match(await rig.app.sngineSync.run(), { ran: true, suspended: SNGINE_SYNC_EMPTY_GUARD })
  t.equal(await statusOf(rig, ada.userId), 'active')
  t.ok(id > 0)
})

t.test('suspension reasons', async (t) => {
  const account = { id: 1, email: 'a@b.c', phone: null, firstName: null, lastName: null, gender: null, birthDate: null, activated: true, banned: false, emailVerified: true, phoneVerified: true, group: 3 }
  t.equal(suspensionReason(account), null)
  t.equal(suspensionReason(undefined), 'gone')
  t.equal(suspensionReason({ ...account, banned: true }), 'banned')
  t.equal(suspensionReason({ ...account, activated: false }), 'not_activated')
  t.equal(suspensionReason({ ...account, activated: false, banned: true }), 'banned')
})
