import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { openDatabase } from '../../src/db/client.js'
import {
  emailCandidates, htmlEntities, htmlEntityDecode, idChunks, openSngineDirectory, sngineFlag, type SngineDirectory,
} from '../../src/adapters/sngine/index.js'
import { createPostgresDatabase, MYSQL_URL } from '../helper.js'

const PEOPLE = [
  // email as Sngine stored it, phone, flags
  { email: 'Ada.Lovelace@Example.com', phone: '+1 (415) 555-2671', activated: '1', banned: '0', first: 'Ada', last: 'Lovelace', gender: 'female', birth: '1990-12-10' },
  { email: "o&#039;brien&amp;co@example.com", phone: null, activated: '1', banned: '0', first: 'Conan &amp; Co', last: "O&#039;Brien", gender: null, birth: null },
  { email: 'banned@example.com', phone: '07700 900123', activated: '1', banned: '1', first: 'B', last: 'B', gender: 'male', birth: null },
  { email: 'sleeper@example.com', phone: '4155550100', activated: '0', banned: '0', first: 'S', last: 'S', gender: null, birth: '2001-01-31' },
]

/** The same expectations, whatever database Sngine lives in. */
async function behavesLikeSngine(t: Test, directory: SngineDirectory) {
  const ada = await directory.findByEmail('ada.lovelace@example.com')
  t.ok(ada, 'case-insensitive match')
  t.match(ada, { email: 'Ada.Lovelace@Example.com', phone: '+1 (415) 555-2671', firstName: 'Ada', activated: true, banned: false, emailVerified: true, group: 3 })
  t.equal(ada!.birthDate, '1990-12-10')
  t.same(await directory.findByEmail('  ADA.LOVELACE@EXAMPLE.COM '), ada, 'surrounding spaces and case do not matter')

  const obrien = await directory.findByEmail("O'Brien&Co@example.com")
  t.ok(obrien, 'matches the htmlentities-encoded spelling Sngine stored')
  t.equal(obrien!.email, "o'brien&co@example.com", 'decoded for use')
  t.equal(obrien!.firstName, 'Conan & Co')
  t.equal(obrien!.lastName, "O'Brien")
  t.equal(obrien!.phone, null)

  t.match(await directory.findByEmail('banned@example.com'), { banned: true, activated: true })
  t.match(await directory.findByEmail('sleeper@example.com'), { activated: false })
  t.equal(await directory.findByEmail('nobody@example.com'), null)
  t.equal(await directory.findByEmail("' or '1'='1"), null, 'input is a parameter, never SQL')

  const byId = await directory.findById(ada!.id)
  t.same(byId, ada)
  t.equal(await directory.findById(987654), null)

  const banned = await directory.findByEmail('banned@example.com')
  const many = await directory.findManyByIds([banned!.id, 987654, ada!.id, ada!.id])
  t.same(many.map((account) => account.id).sort((a, b) => a - b), [ada!.id, banned!.id].sort((a, b) => a - b), 'the ids that exist, once each')
  t.same(many.find((account) => account.id === ada!.id), ada, 'the same account as findById reads')
  t.same(await directory.findManyByIds([]), [])
  // More ids than one statement takes: the account behind the last chunk is still found.
  const filler = Array.from({ length: 2500 }, (_, i) => 1_000_000 + i)
  t.same((await directory.findManyByIds([...filler, ada!.id])).map((account) => account.id), [ada!.id], 'read in chunks')
}

t.test('PostgreSQL directory (shared database)', async (t) => {
  const url = await createPostgresDatabase(t)
  const database = await openDatabase({ url, poolMax: 2 })
  t.teardown(() => database.close())
  await database.query(`create table public.users (
    user_id bigserial primary key, user_email varchar(64) not null, user_phone varchar(64),
    user_firstname varchar(256), user_lastname varchar(256), user_gender varchar(16), user_birthdate date,
    user_activated char(1), user_banned char(1), user_email_verified char(1) default '1', user_phone_verified smallint default 1,
    user_group smallint default 3)`)
  for (const p of PEOPLE) {
    await database.query(`insert into public.users (user_email, user_phone, user_firstname, user_lastname, user_gender, user_birthdate, user_activated, user_banned)
      values ($1,$2,$3,$4,$5,$6,$7,$8)`, [p.email, p.phone, p.first, p.last, p.gender, p.birth, p.activated, p.banned])
  }
  await behavesLikeSngine(t, await openSngineDirectory({ table: 'users', database }))

  t.test('SNGINE_DATABASE_URL pointing at another PostgreSQL database, schema-qualified table', async (t) => {
    const otherUrl = await createPostgresDatabase(t)
    const other = await openDatabase({ url: otherUrl, poolMax: 1 })
    t.teardown(() => other.close())
    await other.query('create schema social')
    await other.query(`create table social.members (user_id int primary key, user_email text, user_phone text, user_firstname text,
      user_lastname text, user_gender text, user_birthdate text, user_activated boolean, user_banned boolean,
      user_email_verified int, user_phone_verified int, user_group int)`)
    await other.query(`insert into social.members values (7, 'X@Y.example', '+33612345678', 'X', 'Y', null, '0000-00-00', true, false, 1, 0, 1)`)
    const directory = await openSngineDirectory({ url: otherUrl, table: 'social.members', database })
    t.teardown(() => directory.close())
    const x = await directory.findByEmail('x@y.example')
    t.match(x, { id: 7, activated: true, banned: false, emailVerified: true, phoneVerified: false, group: 1, birthDate: null })
    t.same(await directory.findManyByIds([7, 8]), [x], 'an int id column compares with the bigint[] parameter')
  })
})

t.test('MariaDB directory (Sngine on its native database)', async (t) => {
  const mysql = await import('mysql2/promise')
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  const table = `sngine_users_${randomBytes(4).toString('hex')}`
  await admin.query(`create table ${table} (
    user_id int unsigned not null auto_increment primary key, user_email varchar(64) not null, user_phone varchar(64) null,
    user_firstname varchar(256) null, user_lastname varchar(256) null, user_gender varchar(16) null, user_birthdate date null,
    user_activated enum('0','1') not null default '0', user_banned enum('0','1') not null default '0',
    user_email_verified enum('0','1') not null default '1', user_phone_verified enum('0','1') not null default '1',
    user_group tinyint unsigned not null default 3) default charset=utf8mb4 collate=utf8mb4_bin`)
  t.teardown(async () => {
    await admin.query(`drop table if exists ${table}`)
    await admin.end()
  })
  for (const p of PEOPLE) {
    await admin.execute(`insert into ${table} (user_email, user_phone, user_firstname, user_lastname, user_gender, user_birthdate, user_activated, user_banned)
      values (?,?,?,?,?,?,?,?)`, [p.email, p.phone, p.first, p.last, p.gender, p.birth, p.activated, p.banned])
  }
  const directory = await openSngineDirectory({ url: MYSQL_URL, table })
  t.teardown(() => directory.close())
  await behavesLikeSngine(t, directory)
})

t.test('flags, entities and candidates', async (t) => {
  for (const yes of ['1', 1, true, 'true']) t.equal(sngineFlag(yes), true, `${JSON.stringify(yes)} is true`)
  for (const no of ['0', 0, false, null, undefined, 'false', '']) t.equal(sngineFlag(no), false, `${JSON.stringify(no)} is false`)
  t.equal(htmlEntities(`a&b'c"<>`), 'a&amp;b&#039;c&quot;&lt;&gt;')
  t.equal(htmlEntityDecode('a&amp;b&#039;c&#39;&quot;&lt;&gt;'), `a&b'c'"<>`)
  t.same(emailCandidates(" O'Neil@X.com "), ["o'neil@x.com", 'o&#039;neil@x.com'])
  t.same(idChunks([3, 1, 3, 2, 1.5, Number.NaN, 4], 2), [[3, 1], [2, 4]], 'distinct safe integers, in chunks')
  t.same(idChunks([]), [])
})
