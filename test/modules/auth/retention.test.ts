import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { DatabaseHandle } from '../../../src/db/client.js'
import {
  otpCodes, refreshTokens, sessions, users, verificationFlows, webauthnChallenges,
} from '../../../src/db/schema/index.js'
import { startRetentionSweeps, sweepExpiredAuthData } from '../../../src/modules/auth/retention.js'
import { captureLogs } from '../../fixtures/logs.js'
import { openTestDatabase } from '../../helper.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

async function addUser(database: DatabaseHandle): Promise<string> {
  const [user] = await database.db.insert(users).values({
    sngineUserId: Number.parseInt(randomBytes(5).toString('hex'), 16),
    emailHmac: randomBytes(16).toString('hex'),
    emailEnc: 'sealed',
  }).returning({ id: users.id })
  return user!.id
}

/** A session live for a day more, with `tokens` refresh tokens (all but the last rotated, as after refreshes). */
async function addSession(database: DatabaseHandle, userId: string, tokens = 3): Promise<string> {
  const [session] = await database.db.insert(sessions).values({
    userId,
    idleExpiresAt: new Date(Date.now() + DAY),
    expiresAt: new Date(Date.now() + DAY),
  }).returning({ id: sessions.id })
  const sessionId = session!.id
  await database.db.insert(refreshTokens).values(Array.from({ length: tokens }, (_, i) => ({
    sessionId,
    tokenHash: randomBytes(32).toString('hex'),
    rotatedAt: i < tokens - 1 ? new Date() : null,
  })))
  return sessionId
}

/** A flow live for 15 minutes more, with one code sent on each channel. */
async function addFlow(database: DatabaseHandle): Promise<string> {
  const [flow] = await database.db.insert(verificationFlows).values({
    flowHash: randomBytes(32).toString('hex'),
    deviceHash: randomBytes(32).toString('hex'),
    emailHmac: randomBytes(16).toString('hex'),
    expiresAt: new Date(Date.now() + 15 * 60_000),
  }).returning({ id: verificationFlows.id })
  const flowId = flow!.id
  await database.db.insert(otpCodes).values((['email', 'sms'] as const).map((channel) => ({
    flowId,
    channel,
    codeHmac: randomBytes(16).toString('hex'),
    destinationHmac: randomBytes(16).toString('hex'),
    sentAt: new Date(),
    expiresAt: new Date(Date.now() + 10 * 60_000),
  })))
  return flowId
}

async function addChallenge(database: DatabaseHandle, values: Partial<typeof webauthnChallenges.$inferInsert> = {}): Promise<string> {
  const [challenge] = await database.db.insert(webauthnChallenges).values({
    challenge: randomBytes(32).toString('base64url'),
    purpose: 'authentication',
    deviceHash: randomBytes(32).toString('hex'),
    expiresAt: new Date(Date.now() + 5 * 60_000),
    ...values,
  }).returning({ id: webauthnChallenges.id })
  return challenge!.id
}

/** Back-dates with the database's own clock, as the sweep compares with `now()`. */
async function backDate(database: DatabaseHandle, table: string, id: string, assignments: string): Promise<void> {
  await database.query(`update vottery.${table} set ${assignments} where id = $1`, [id])
}

const ids = async (database: DatabaseHandle, table: string) =>
  (await database.query<{ id: string }>(`select id from vottery.${table} order by id`)).map((row) => row.id)

const tokensBySession = async (database: DatabaseHandle) => Object.fromEntries(
  (await database.query<{ session_id: string; n: number }>(
    'select session_id, count(*)::int as n from vottery.refresh_tokens group by session_id')).map((row) => [row.session_id, Number(row.n)]))

const sorted = (values: string[]) => [...values].sort()

t.test('the sweep deletes exactly the long-dead sessions, flows and challenges', async (t) => {
  const database = await openTestDatabase(t)
  const userId = await addUser(database)

  const live = await addSession(database, userId)
  const liveSinceLongAgo = await addSession(database, userId)
  await backDate(database, 'sessions', liveSinceLongAgo, `created_at = now() - interval '60 days', last_used_at = now() - interval '1 hour'`)
  const revokedLongAgo = await addSession(database, userId)
  await backDate(database, 'sessions', revokedLongAgo, `revoked_at = now() - interval '31 days', revoked_reason = 'logout'`)
  const revokedYesterday = await addSession(database, userId)
  await backDate(database, 'sessions', revokedYesterday, `revoked_at = now() - interval '1 day', revoked_reason = 'logout'`)
  const expiredLongAgo = await addSession(database, userId)
  await backDate(database, 'sessions', expiredLongAgo, `expires_at = now() - interval '31 days', idle_expires_at = now() - interval '31 days'`)
  const expiredRecently = await addSession(database, userId)
  await backDate(database, 'sessions', expiredRecently, `expires_at = now() - interval '29 days', idle_expires_at = now() - interval '29 days'`)
  const idleLongAgo = await addSession(database, userId)
  await backDate(database, 'sessions', idleLongAgo, `idle_expires_at = now() - interval '31 days'`)

  const expiredFlow = await addFlow(database)
  await backDate(database, 'verification_flows', expiredFlow, `expires_at = now() - interval '2 hours'`)
  const justExpiredFlow = await addFlow(database)
  await backDate(database, 'verification_flows', justExpiredFlow, `expires_at = now() - interval '10 minutes'`)
  const liveFlow = await addFlow(database)
  // A registration challenge rides with its flow: gone with the expired flow, kept with the live one.
  const expiredFlowChallenge = await addChallenge(database, { purpose: 'registration', flowId: expiredFlow, deviceHash: null })
  const liveFlowChallenge = await addChallenge(database, { purpose: 'registration', flowId: liveFlow, deviceHash: null })
  const expiredChallenge = await addChallenge(database)
  await backDate(database, 'webauthn_challenges', expiredChallenge, `expires_at = now() - interval '1 second'`)
  const liveChallenge = await addChallenge(database)
  const liveFlowCodes = await database.query<{ id: string }>('select id from vottery.otp_codes where flow_id in ($1, $2)', [justExpiredFlow, liveFlow])

  t.same(await sweepExpiredAuthData(database.db), { challenges: 1, flows: 1, refreshTokens: 9, sessions: 3 }, 'what was deleted, counted')

  const kept = [live, liveSinceLongAgo, revokedYesterday, expiredRecently]
  t.same(await ids(database, 'sessions'), sorted(kept), 'live sessions, and those ended less than 30 days ago, stay')
  t.same(await tokensBySession(database), Object.fromEntries(kept.map((id) => [id, 3])),
    'their refresh tokens all stay (the rotated ones too); those of the deleted sessions are gone')
  t.same(await ids(database, 'verification_flows'), sorted([justExpiredFlow, liveFlow]), 'a flow expired less than an hour ago stays')
  t.same(await ids(database, 'otp_codes'), sorted(liveFlowCodes.map((row) => row.id)), 'the codes of the deleted flow went with it')
  t.same(await ids(database, 'webauthn_challenges'), sorted([liveFlowChallenge, liveChallenge]),
    'expired challenges are gone, and the challenge of the deleted flow with it')
  t.notOk((await ids(database, 'webauthn_challenges')).includes(expiredFlowChallenge), 'that one had not expired itself: it went by cascade')
  t.same(await ids(database, 'users'), [userId], 'the user is not touched')

  t.same(await sweepExpiredAuthData(database.db), { challenges: 0, flows: 0, refreshTokens: 0, sessions: 0 }, 'a second sweep finds nothing')
})

t.test('the sweep deletes in batches until a batch comes back short, and stops when told', async (t) => {
  const database = await openTestDatabase(t)
  const userId = await addUser(database)
  const live = await addSession(database, userId, 4)
  for (let i = 0; i < 5; i++) {
    await backDate(database, 'sessions', await addSession(database, userId), `revoked_at = now() - interval '40 days'`)
    await backDate(database, 'verification_flows', await addFlow(database), `expires_at = now() - interval '1 day'`)
    await backDate(database, 'webauthn_challenges', await addChallenge(database), `expires_at = now() - interval '1 minute'`)
  }

  // `stopped` is asked before every batch: with batches of 2, 3 challenges take 2 batches, 5 flows or sessions 3, 15 tokens 8.
  let asked = 0
  const stopAfter = (batches: number) => () => ++asked > batches
  t.same(await sweepExpiredAuthData(database.db, { batchSize: 2, stopped: stopAfter(1) }),
    { challenges: 2, flows: 0, refreshTokens: 0, sessions: 0 }, 'told to stop after one batch: one batch, nothing else')
  asked = 0
  t.same(await sweepExpiredAuthData(database.db, { batchSize: 2, stopped: stopAfter(Infinity) }),
    { challenges: 3, flows: 5, refreshTokens: 15, sessions: 5 }, 'then everything, more rows than a batch of each')
  t.equal(asked, 2 + 3 + 8 + 3, 'in batches of at most 2')
  t.same(await ids(database, 'sessions'), [live], 'only the live session is left')
  t.same(await tokensBySession(database), { [live]: 4 }, 'with all its refresh tokens')
  t.same(await ids(database, 'verification_flows'), [], 'no flow is left')
  t.same(await ids(database, 'otp_codes'), [], 'nor code')
  t.same(await ids(database, 'webauthn_challenges'), [], 'nor challenge')
})

t.test('the sweeper: logs what it deleted, sweeps shortly after start, and warns when the database is gone', async (t) => {
  const database = await openTestDatabase(t)
  const captured = captureLogs('debug')
  const userId = await addUser(database)
  await backDate(database, 'sessions', await addSession(database, userId, 2), `revoked_at = now() - interval '31 days'`)
  await addSession(database, userId)

  const sweeper = startRetentionSweeps({ db: database.db, log: captured.logger, firstDelayMs: 60_000 })
  t.teardown(() => sweeper.stop())
  await Promise.all([sweeper.sweep(), sweeper.sweep()])
  const swept = () => captured.entries().filter((e) => e.msg === 'expired auth data swept')
  t.match(swept(), [{ level: 30, deleted: { challenges: 0, flows: 0, refreshTokens: 2, sessions: 1 } }], 'one sweep at a time; at info when something went')
  await sweeper.sweep()
  t.match(swept()[1], { level: 20, deleted: { challenges: 0, flows: 0, refreshTokens: 0, sessions: 0 } }, 'at debug when nothing did')
  await sweeper.stop()
  await sweeper.sweep()
  t.equal(swept().length, 2, 'no sweep once stopped')

  const early = startRetentionSweeps({ db: database.db, log: captured.logger, firstDelayMs: 10 })
  t.teardown(() => early.stop())
  for (let waited = 0; swept().length < 3 && waited < 30_000; waited += 20) await sleep(20)
  t.equal(swept().length, 3, 'the first sweep comes after the start delay, not after the interval')
  await early.stop()

  const orphan = startRetentionSweeps({ db: database.db, log: captured.logger, firstDelayMs: 60_000 })
  t.teardown(() => orphan.stop())
  await database.close()
  await orphan.sweep()
  const failure = captured.entries().find((e) => e.msg === 'expired data not swept')
  t.match(failure, { level: 40 }, 'a database that is gone is an outage: a warning, and the next interval tries again')
  t.notOk(captured.entries().some((e) => e.level >= 50), 'nothing at error level')
})
