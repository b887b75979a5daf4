import { quoteIdentifier } from './directory.js'

type RawQuery = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>

/** People for the embedded demo: sign in as any of them; the codes appear in the log. */
export const DEMO_PEOPLE = [
  { email: 'ada@example.com', phone: '+14155552671', first: 'Ada', last: 'Lovelace', gender: '2', birth: '1990-12-10' },
  { email: 'alan@example.com', phone: '+447700900123', first: 'Alan', last: 'Turing', gender: '1', birth: '1985-06-23' },
  { email: 'grace@example.com', phone: '+14155550199', first: 'Grace', last: 'Hopper', gender: '2', birth: '1979-12-09' },
  { email: 'linus@example.com', phone: '+358401234567', first: 'Linus', last: 'Torvalds', gender: '1', birth: '1992-12-28' },
  { email: 'margaret@example.com', phone: '+16175550142', first: 'Margaret', last: 'Hamilton', gender: '2', birth: '1986-08-17' },
] as const

/**
 * Creates a Sngine-shaped users table (Sngine 3.x columns, flags as '0'/'1' text) when it is missing
 * and fills it with the demo people — never into a table that already has rows.
 * Returns how many people were added.
 */
export async function seedDemoPeople(query: RawQuery, table: string): Promise<number> {
  const name = quoteIdentifier(table, '"')
  await query(`create table if not exists ${name} (
    user_id bigserial primary key,
    user_name varchar(64) not null,
    user_email varchar(64) not null,
    user_phone varchar(64),
    user_firstname varchar(256) not null default '',
    user_lastname varchar(256) not null default '',
    user_gender varchar(16),
    user_birthdate date,
    user_activated char(1) not null default '0',
    user_banned char(1) not null default '0',
    user_email_verified char(1) not null default '0',
    user_phone_verified char(1) not null default '0',
    user_group smallint not null default 3,
    user_registered timestamp not null default now()
  )`)
  const existing = await query<{ n: number | string }>(`select count(*)::int as n from ${name}`)
  if (Number(existing[0]?.n ?? 0) > 0) return 0
  for (const person of DEMO_PEOPLE) {
    await query(
      `insert into ${name} (user_name, user_email, user_phone, user_firstname, user_lastname, user_gender, user_birthdate,
        user_activated, user_banned, user_email_verified, user_phone_verified)
       values ($1, $2, $3, $4, $5, $6, $7, '1', '0', '1', '1')`,
      [person.email.split('@')[0], person.email, person.phone, person.first, person.last, person.gender, person.birth],
    )
  }
  return DEMO_PEOPLE.length
}
