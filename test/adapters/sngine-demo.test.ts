import t from 'tap'
import { DEMO_PEOPLE, seedDemoPeople } from '../../src/adapters/sngine/demo.js'
import { openSngineDirectory } from '../../src/adapters/sngine/index.js'
import { addSnginePerson, createSngineTable, openTestDatabase } from '../helper.js'

t.test('seeds an empty database once, in a Sngine-shaped table the directory can read', async (t) => {
  const database = await openTestDatabase(t)
  t.equal(await seedDemoPeople(database.query, 'users'), DEMO_PEOPLE.length)
  t.equal(await seedDemoPeople(database.query, 'users'), 0, 'a second run adds nobody')
  const directory = await openSngineDirectory({ table: 'users', database })
  const ada = await directory.findByEmail(DEMO_PEOPLE[0].email)
  t.match(ada, { email: DEMO_PEOPLE[0].email, phone: DEMO_PEOPLE[0].phone, activated: true, banned: false })
  const alan = await directory.findByEmail(DEMO_PEOPLE[1].email)
  t.same((await directory.findManyByIds([alan!.id, ada!.id, 424242])).map((a) => a.email).sort(), [DEMO_PEOPLE[0].email, DEMO_PEOPLE[1].email],
    'many by id on the suite\'s database (PGlite or PostgreSQL)')
  const rows = await database.query<{ n: number | string }>('select count(*)::int as n from public.users')
  t.equal(Number(rows[0]!.n), DEMO_PEOPLE.length)
})

t.test('never writes into a users table that already has rows', async (t) => {
  const database = await openTestDatabase(t)
  await createSngineTable(database)
  await addSnginePerson(database, { email: 'real@example.com' })
  t.equal(await seedDemoPeople(database.query, 'users'), 0)
  const rows = await database.query<{ user_email: string }>('select user_email from public.users')
  t.same(rows.map((r) => r.user_email), ['real@example.com'])
})
