import t from 'tap'
import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { asc, sql, TransactionRollbackError, type SQL } from 'drizzle-orm'
import { openDatabase, type DatabaseHandle } from '../../../src/db/client.js'
import { auditEvents } from '../../../src/db/schema/index.js'
import {
  AUDIT_APPEND_LOCK_KEY, AUDIT_GENESIS_HASH, hashAuditEvent, listAuditEvents, recordAuditEvent, verifyAuditChain,
  type AuditChainVerification, type AuditData, type AuditEvent, type AuditEventInput, type AuditListQuery,
} from '../../../src/modules/users/audit.js'
import { openTestDatabase, usingPostgres } from '../../helper.js'

async function storedEvents(database: DatabaseHandle): Promise<AuditEvent[]> {
  return database.db.select().from(auditEvents).orderBy(asc(auditEvents.seq))
}

/** Applies `edit` with the append-only trigger off, verifies inside the same transaction, then rolls it all back. */
async function verifyAfterEdit(database: DatabaseHandle, ...edits: SQL[]): Promise<AuditChainVerification> {
  let result: AuditChainVerification | undefined
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table vottery.audit_events disable trigger audit_events_append_only`)
    for (const edit of edits) await tx.execute(edit)
    // Small batches, so that breaks also fall on batch boundaries.
    result = await verifyAuditChain(tx, { batchSize: 2 })
    tx.rollback()
  }).catch((error: unknown) => { if (!(error instanceof TransactionRollbackError)) throw error })
  return result!
}

async function recordFive(database: DatabaseHandle) {
  const userId = randomUUID()
  const recorded = []
  for (let i = 1; i <= 5; i++) {
    recorded.push(await recordAuditEvent(database.db, {
      type: 'otp.sent', userId, actor: 'system', ip: '198.51.100.4', data: { channel: 'email', attempts: i, flow: randomUUID() },
    }))
  }
  return recorded
}

async function listAll(database: DatabaseHandle, query: Omit<AuditListQuery, 'cursor'>): Promise<number[]> {
  const seqs: number[] = []
  let cursor: string | null = null
  do {
    const page = await listAuditEvents(database.db, { ...query, cursor })
    seqs.push(...page.items.map((event) => event.seq))
    cursor = page.nextCursor
  } while (cursor)
  return seqs
}

async function until(condition: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return
    await sleep(10)
  }
  throw new Error(`gave up waiting for ${what}`)
}

t.test('events chain from the genesis value and verify after the round trip through the database', async (t) => {
  const database = await openTestDatabase(t)
  t.same(await verifyAuditChain(database.db), { ok: true, count: 0, head: null }, 'an empty log verifies')

  const userId = randomUUID()
  const data: AuditData = {
    zeta: 'keys out of order', alpha: 'jsonb reorders them', b: 'and by length', channel: 'email',
    attempts: 3, decoy: false, flow: null, largest: Number.MAX_SAFE_INTEGER, smallest: Number.MIN_SAFE_INTEGER, zero: -0,
    text: 'Zoë 🗳️ 投票 \u2028 "quoted" \\ \n\t\u0001\u007f', masked: 'a***@example.com', phone: '+1******2671',
  }
  const first = await recordAuditEvent(database.db, { type: 'otp.sent', userId: userId.toUpperCase(), ip: '2001:db8::1', data })
  const second = await recordAuditEvent(database.db, { type: 'passkey.registered', userId, actor: 'system' })
  const third = await recordAuditEvent(database.db, { type: 'session.revoked' })
  const awkward = JSON.parse('{"__proto__":"a key like any other","constructor":"another"}') as AuditData
  const fourth = await recordAuditEvent(database.db, { type: 'odd.keys', data: awkward })

  const stored = await storedEvents(database)
  t.same(stored.map((e) => e.seq), [1, 2, 3, 4], 'seq counts from 1 without holes')
  t.same(stored.map((e) => e.id), [first.id, second.id, third.id, fourth.id])
  t.same(stored.map((e) => e.hash), [first.hash, second.hash, third.hash, fourth.hash])
  t.same(stored.map((e) => e.prevHash), [AUDIT_GENESIS_HASH, first.hash, second.hash, third.hash], 'each event points at the one before')
  t.match(first.hash, /^[0-9a-f]{64}$/)
  t.equal(stored[0]!.userId, userId, 'the user id is kept in the spelling PostgreSQL answers')
  t.same(stored[0]!.data, { ...data, zero: 0 }, 'data comes back as given')
  t.same(stored[2]!.data, {}, 'absent data is an empty object')
  t.same([stored[2]!.userId, stored[2]!.actor, stored[2]!.ip], [null, null, null])
  t.same(Object.entries(stored[3]!.data), Object.entries(awkward), '`__proto__` is stored as a key, not taken as a prototype')
  for (const event of stored) t.equal(hashAuditEvent(event), event.hash, `hash of seq ${event.seq} recomputes from the stored row`)
  const [kind] = await database.query<{ kind: string }>(`select jsonb_typeof(data) as kind from vottery.audit_events where seq = 1`)
  t.equal(kind!.kind, 'object', 'data is stored as a JSON object, not as a string')

  const intact = { ok: true, count: 4, head: { seq: 4, hash: fourth.hash } }
  t.same(await verifyAuditChain(database.db), intact)
  t.same(await verifyAuditChain(database.db, { batchSize: 1 }), intact, 'batches of one')
  t.same(await verifyAuditChain(database.db, { batchSize: 2 }), intact, 'batches ending exactly at the head')
  await t.rejects(verifyAuditChain(database.db, { batchSize: 0 }), RangeError)
})

t.test('any value the API accepts survives the round trip and verifies', async (t) => {
  const database = await openTestDatabase(t)
  const storable = (s: string) => !s.includes('\u0000') && !/\p{Cs}/u.test(s)
  const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((k) => storable(k) && !['code', 'otp', 'token', 'password', 'secret'].includes(k.toLowerCase()))
  const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => storable(s) && !s.includes('@') && !s.includes('+'))
  const value = fc.oneof(text, fc.maxSafeInteger(), fc.boolean(), fc.constant(null))
  let expectedCount = 0
  await fc.assert(fc.asyncProperty(fc.dictionary(key, value, { maxKeys: 8 }), async (data) => {
    const recorded = await recordAuditEvent(database.db, { type: 'property.check', actor: 'x', data })
    expectedCount += 1
    const [row] = await database.db.select().from(auditEvents).where(sql`${auditEvents.seq} = ${recorded.seq}`)
    return row !== undefined && hashAuditEvent(row) === recorded.hash && JSON.stringify(row.data, Object.keys(row.data).sort())
      === JSON.stringify({ ...data }, Object.keys(data).sort())
  }), { numRuns: 40 })
  const result = await verifyAuditChain(database.db, { batchSize: 7 })
  t.same(result.ok && result.count, expectedCount, 'the whole chain verifies')
})

t.test('refuses what cannot be stored exactly or must never be stored, and writes nothing', async (t) => {
  const database = await openTestDatabase(t)
  const tooMany = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]))
  const cases: Array<[string, AuditEventInput]> = [
    ['a NUL in a value', { type: 'x', data: { note: 'a\u0000b' } }],
    ['an unpaired surrogate', { type: 'x', data: { note: 'broken \ud800' } }],
    ['an unpaired surrogate in a key', { type: 'x', data: { ['\udc00']: 1 } }],
    ['a NUL in actor', { type: 'x', actor: 'sys\u0000tem' }],
    ['a nested object', { type: 'x', data: { nested: { deep: 1 } } as never }],
    ['an array as data', { type: 'x', data: ['a'] as never }],
    ['a Date as data', { type: 'x', data: new Date() as never }],
    ['a Date value', { type: 'x', data: { at: new Date() } as never }],
    ['a bigint value', { type: 'x', data: { n: 1n } as never }],
    ['a fraction', { type: 'x', data: { score: 0.5 } }],
    ['an unsafe integer', { type: 'x', data: { n: 2 ** 53 } }],
    ['NaN', { type: 'x', data: { n: Number.NaN } }],
    ['Infinity', { type: 'x', data: { n: Number.POSITIVE_INFINITY } }],
    ['a key naming an OTP', { type: 'x', data: { otp: 'x' } }],
    ['a key naming a code', { type: 'x', data: { Code: 'x' } }],
    ['a key naming a refresh token', { type: 'x', data: { refresh_token: 'x' } }],
    ['a clear email in data', { type: 'x', data: { to: 'Ada.Lovelace@example.com' } }],
    ['a clear email in actor', { type: 'x', actor: 'ada@example.com' }],
    ['a clear phone number', { type: 'x', data: { to: '+1 (415) 555-2671' } }],
    ['a type that is not a dotted name', { type: 'OTP sent' }],
    ['an empty type', { type: '' }],
    ['a user id that is not a UUID', { type: 'x', userId: '42' }],
    ['a string over 1024 characters', { type: 'x', data: { note: 'x'.repeat(1025) } }],
    ['more than 50 keys', { type: 'x', data: tooMany }],
    ['an empty key', { type: 'x', data: { '': 1 } }],
  ]
  for (const [name, event] of cases) {
    const error = await recordAuditEvent(database.db, event).then(() => null, (e: unknown) => e as Error)
    t.equal(error?.name, 'AuditEventRejected', name)
    t.notMatch(error?.message ?? '', /lovelace|ada@|555|broken/i, `${name}: the message does not repeat the value`)
  }
  t.same(await verifyAuditChain(database.db), { ok: true, count: 0, head: null }, 'nothing was written')
})

t.test("an event recorded in the caller's transaction commits and rolls back with it", async (t) => {
  const database = await openTestDatabase(t)
  await t.rejects(database.db.transaction(async (tx) => {
    await recordAuditEvent(tx, { type: 'flow.started' })
    throw new Error('the caller failed')
  }), /the caller failed/)
  t.same(await verifyAuditChain(database.db), { ok: true, count: 0, head: null }, 'the rolled-back event is gone')
  const [a, b] = await database.db.transaction(async (tx) => [
    await recordAuditEvent(tx, { type: 'flow.started' }),
    await recordAuditEvent(tx, { type: 'flow.finished' }),
  ])
  t.same([a!.seq, b!.seq], [1, 2], 'no hole where the rolled-back event was; two events in one transaction chain')
  const c = await recordAuditEvent(database.db, { type: 'flow.closed' })
  t.equal(c.seq, 3)
  t.same(await verifyAuditChain(database.db), { ok: true, count: 3, head: { seq: 3, hash: c.hash } })
})

t.test('50 concurrent appends from two instances form one linear chain', async (t) => {
  const database = await openTestDatabase(t)
  const instances = [database]
  if (database.url) {
    // A second pool to the same database stands in for a second app instance.
    const other = await openDatabase({ url: database.url, poolMax: 5 })
    t.teardown(() => other.close())
    instances.push(other)
  }
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => {
    const db = instances[i % instances.length]!.db
    const event = { type: 'load.test', data: { i } }
    return i % 3 === 0 ? db.transaction((tx) => recordAuditEvent(tx, event)) : recordAuditEvent(db, event)
  }))
  t.same(results.map((r) => r.seq).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1), 'seq 1..50, each once')
  const [links] = await database.query<{ events: number; predecessors: number }>(
    `select count(*)::int as events, count(distinct prev_hash)::int as predecessors from vottery.audit_events`)
  t.same(links, { events: 50, predecessors: 50 }, 'no two events share a predecessor')
  const stored = await storedEvents(database)
  t.same(stored.map((e) => e.data.i).sort((x, y) => Number(x) - Number(y)), Array.from({ length: 50 }, (_, i) => i))
  t.same(await verifyAuditChain(database.db, { batchSize: 16 }), { ok: true, count: 50, head: { seq: 50, hash: stored[49]!.hash } })
  // Rows written by one transaction share xmin: the 33 events written on their own went out in a few batches.
  const [alone] = await database.query<{ transactions: number }>(
    `select count(distinct xmin::text)::int as transactions from vottery.audit_events where (data->>'i')::int % 3 <> 0`)
  t.ok(alone!.transactions <= 2 * instances.length, `events written on their own shared ${alone!.transactions} transactions`)
})

t.test('a batch that fails rejects every event in it, and the next batch goes ahead', async (t) => {
  const database = await openTestDatabase(t)
  // Stands in for a failure of the whole transaction (a lost connection, a timeout): nothing in the checked
  // event itself can make the insert fail.
  await database.query(`alter table vottery.audit_events add constraint audit_test_poison check (type <> 'poison.pill')`)
  const first = recordAuditEvent(database.db, { type: 'first' })
  const poisoned = recordAuditEvent(database.db, { type: 'poison.pill' })
  const neighbour = recordAuditEvent(database.db, { type: 'neighbour' })
  const [a, p, n] = await Promise.allSettled([first, poisoned, neighbour])
  t.equal(a.status, 'fulfilled', 'the batch already committing is unaffected')
  t.equal(p.status, 'rejected')
  t.equal(n.status, 'rejected', 'its neighbour in the same batch fails with it')
  const later = await recordAuditEvent(database.db, { type: 'later' })
  t.equal(later.seq, 2, 'the failed batch left no hole')
  t.same((await storedEvents(database)).map((e) => e.type), ['first', 'later'])
  t.same(await verifyAuditChain(database.db), { ok: true, count: 2, head: { seq: 2, hash: later.hash } })
})

t.test('an append waits for the transaction holding the lock, then chains onto its event', { skip: !usingPostgres && 'PGlite has a single connection' }, async (t) => {
  const database = await openTestDatabase(t)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let announce!: () => void
  const holding = new Promise<void>((resolve) => { announce = resolve })
  const holder = database.db.transaction(async (tx) => {
    const event = await recordAuditEvent(tx, { type: 'holder' })
    announce()
    await gate
    return event
  })
  await holding
  const waiter = recordAuditEvent(database.db, { type: 'waiter' })
  await until(async () => {
    const [row] = await database.query<{ n: number }>(
      `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and objid = $1
         and database = (select oid from pg_database where datname = current_database())`, [AUDIT_APPEND_LOCK_KEY])
    return row!.n === 1
  }, 'the second append to queue on the advisory lock')
  release()
  const [held, waited] = await Promise.all([holder, waiter])
  t.equal(waited.seq, held.seq + 1)
  const stored = await storedEvents(database)
  t.equal(stored[1]!.prevHash, held.hash, 'the waiting append saw the committed event')
  t.same(await verifyAuditChain(database.db), { ok: true, count: 2, head: { seq: 2, hash: waited.hash } })
})

t.test('verification finds every kind of edit', async (t) => {
  const database = await openTestDatabase(t)
  const recorded = await recordFive(database)
  const atThree = (column: SQL) => sql`update vottery.audit_events set ${column} where seq = 3`
  const edited = { ok: false, count: 2, brokenAt: { seq: 3, reason: 'hash_mismatch' } }
  const cases: Array<[string, SQL]> = [
    ['data', atThree(sql`data = data || '{"channel":"sms"}'`)],
    ['a data number written as 3.0', atThree(sql`data = jsonb_set(data, '{attempts}', '3.0')`)],
    ['a data number off beyond double precision', atThree(sql`data = jsonb_set(data, '{attempts}', '3.00000000000000000001')`)],
    ['data as an array', atThree(sql`data = '["otp.sent"]'`)],
    ['data as a scalar', atThree(sql`data = '"otp.sent"'`)],
    ['type', atThree(sql`type = 'otp.verified'`)],
    ['user_id', atThree(sql`user_id = ${randomUUID()}`)],
    ['user_id removed', atThree(sql`user_id = null`)],
    ['actor', atThree(sql`actor = 'admin'`)],
    ['ip', atThree(sql`ip = '198.51.100.5'`)],
    ['id', atThree(sql`id = ${randomUUID()}`)],
    ['created_at by a millisecond', atThree(sql`created_at = created_at + interval '1 millisecond'`)],
    ['created_at by a microsecond', atThree(sql`created_at = created_at + interval '1 microsecond'`)],
    ['the hash itself', atThree(sql`hash = ${'f'.repeat(64)}`)],
  ]
  for (const [name, edit] of cases) t.same(await verifyAfterEdit(database, edit), edited, `${name} edited: hash_mismatch at 3`)

  t.same(await verifyAfterEdit(database, atThree(sql`prev_hash = ${'e'.repeat(64)}`)),
    { ok: false, count: 2, brokenAt: { seq: 3, reason: 'prev_hash_mismatch' } }, 'prev_hash pointed elsewhere')

  // An editor who recomputes the edited event's hash is caught by the next event.
  const [third] = (await storedEvents(database)).filter((e) => e.seq === 3)
  const forged = { ...third!, data: { ...third!.data, channel: 'sms' } }
  t.same(await verifyAfterEdit(database, atThree(sql`data = ${JSON.stringify(forged.data)}::jsonb, hash = ${hashAuditEvent(forged)}`)),
    { ok: false, count: 3, brokenAt: { seq: 4, reason: 'prev_hash_mismatch' } }, 'edited and re-hashed: the successor no longer matches')

  t.same(await verifyAfterEdit(database, sql`delete from vottery.audit_events where seq = 3`),
    { ok: false, count: 2, brokenAt: { seq: 4, reason: 'gap' } }, 'a deleted event leaves a gap')
  t.same(await verifyAfterEdit(database, sql`delete from vottery.audit_events where seq = 1`),
    { ok: false, count: 0, brokenAt: { seq: 2, reason: 'gap' } }, 'the first event deleted')
  t.same(await verifyAfterEdit(database,
    sql`delete from vottery.audit_events where seq = 3`,
    sql`update vottery.audit_events set seq = 3 where seq = 4`,
    sql`update vottery.audit_events set seq = 4 where seq = 5`),
  { ok: false, count: 2, brokenAt: { seq: 3, reason: 'prev_hash_mismatch' } }, 'deleted and renumbered: the links no longer match')
  // The chain alone cannot show that its end was cut off; the head it reports can, compared with one kept elsewhere.
  t.same(await verifyAfterEdit(database, sql`delete from vottery.audit_events where seq = 5`),
    { ok: true, count: 4, head: { seq: 4, hash: recorded[3]!.hash } }, 'a cut-off tail shows only in the head')

  t.same(await verifyAuditChain(database.db), { ok: true, count: 5, head: { seq: 5, hash: recorded[4]!.hash } }, 'every edit was rolled back')
})

t.test('a committed edit and a committed deletion are reported', async (t) => {
  const database = await openTestDatabase(t)
  await recordFive(database)
  await database.query('alter table vottery.audit_events disable trigger audit_events_append_only')
  await database.query(`update vottery.audit_events set data = jsonb_set(data, '{channel}', '"sms"') where seq = 4`)
  t.same(await verifyAuditChain(database.db), { ok: false, count: 3, brokenAt: { seq: 4, reason: 'hash_mismatch' } })
  await database.query('delete from vottery.audit_events where seq = 2')
  t.same(await verifyAuditChain(database.db), { ok: false, count: 1, brokenAt: { seq: 3, reason: 'gap' } })
})

t.test('UPDATE, DELETE and TRUNCATE are refused by the database', async (t) => {
  const database = await openTestDatabase(t)
  const recorded = await recordFive(database)
  const refused = { code: '42501', message: /vottery\.audit_events is append-only: (UPDATE|DELETE|TRUNCATE) refused/ }
  await t.rejects(database.query(`update vottery.audit_events set type = 'x' where seq = 2`), refused, 'UPDATE')
  await t.rejects(database.query(`delete from vottery.audit_events where seq = 5`), refused, 'DELETE')
  await t.rejects(database.query(`delete from vottery.audit_events`), refused, 'DELETE of everything')
  await t.rejects(database.query(`truncate vottery.audit_events`), refused, 'TRUNCATE')
  const refusedThroughDrizzle = { cause: { code: '42501' } }
  await t.rejects(database.db.update(auditEvents).set({ actor: 'admin' }), refusedThroughDrizzle, 'UPDATE through Drizzle')
  await t.rejects(database.db.delete(auditEvents), refusedThroughDrizzle, 'DELETE through Drizzle')
  t.same(await verifyAuditChain(database.db), { ok: true, count: 5, head: { seq: 5, hash: recorded[4]!.hash } }, 'the log is untouched')
})

t.test('listing pages newest first without gaps or repeats while events keep arriving', async (t) => {
  const database = await openTestDatabase(t)
  const [ada, bob] = [randomUUID(), randomUUID()]
  for (let i = 0; i < 25; i++) {
    await recordAuditEvent(database.db, { type: i % 3 === 0 ? 'otp.failed' : 'otp.sent', userId: i % 2 === 0 ? ada : bob, data: { i } })
  }
  const seen: number[] = []
  const pageSizes: number[] = []
  let cursor: string | null = null
  do {
    const page = await listAuditEvents(database.db, { limit: 7, cursor })
    seen.push(...page.items.map((e) => e.seq))
    pageSizes.push(page.items.length)
    cursor = page.nextCursor
    await recordAuditEvent(database.db, { type: 'otp.sent', userId: ada, data: { late: true } })
  } while (cursor)
  t.same(seen, Array.from({ length: 25 }, (_, i) => 25 - i), 'every event once, newest first, none of the late ones')
  t.same(pageSizes, [7, 7, 7, 4])

  const [newest] = (await listAuditEvents(database.db, { limit: 1 })).items
  t.equal(newest!.seq, 29, 'a new first page starts at the newest event')
  t.same(newest!.data, { late: true })
  t.match(newest!, { type: 'otp.sent', userId: ada, prevHash: /^[0-9a-f]{64}$/, hash: /^[0-9a-f]{64}$/, createdAt: Date })

  const all = await storedEvents(database)
  const expected = (keep: (e: AuditEvent) => boolean) => all.filter(keep).map((e) => e.seq).reverse()
  t.same(await listAll(database, { limit: 4, userId: bob }), expected((e) => e.userId === bob), 'by user')
  t.same(await listAll(database, { limit: 4, userId: ada.toUpperCase() }), expected((e) => e.userId === ada), 'by user, any spelling of the id')
  t.same(await listAll(database, { limit: 3, type: 'otp.failed' }), expected((e) => e.type === 'otp.failed'), 'by type')
  t.same(await listAll(database, { limit: 2, userId: ada, type: 'otp.failed' }), expected((e) => e.userId === ada && e.type === 'otp.failed'), 'by both')
  t.same(await listAuditEvents(database.db, { limit: 5, userId: randomUUID() }), { items: [], nextCursor: null }, 'an unknown user')
  const fivePages = await listAuditEvents(database.db, { limit: 29 })
  t.equal(fivePages.nextCursor, null, 'a page ending on the oldest event has no next cursor')
})

t.test('listing refuses a bad limit, cursor or user id', async (t) => {
  const database = await openTestDatabase(t)
  const validation = (field: string) => ({ code: 'VOTTERY_VALIDATION_FAILED', statusCode: 400, details: { field } })
  for (const limit of [0, 1001, 2.5]) await t.rejects(listAuditEvents(database.db, { limit }), validation('limit'), `limit ${limit}`)
  const forged = (text: string) => Buffer.from(text).toString('base64url')
  for (const cursor of ['garbage', forged('a1.0'), forged('a1.01'), forged('a1.-3'), forged('b1.5'), forged('a1.5') + '=']) {
    await t.rejects(listAuditEvents(database.db, { limit: 5, cursor }), validation('cursor'), `cursor ${cursor}`)
  }
  await t.rejects(listAuditEvents(database.db, { limit: 5, userId: 'not-a-uuid' }), validation('userId'))
})
