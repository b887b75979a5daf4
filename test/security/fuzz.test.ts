import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createTestUser, usingPostgres } from '../helper.js'
import { startRig } from '../fixtures/onboarding.js'
import { readOperations } from '../fixtures/openapi.js'
import { ValuePool } from '../fixtures/schema-arbitrary.js'
import { runFuzz, type Identity } from '../fixtures/fuzz-runner.js'

const TOTAL_CASES = Number(process.env.FUZZ_CASES ?? 10_500)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('every route of the OpenAPI document, fuzzed anonymously and with tokens', async (t) => {
  // The generator runs on the app's own thread and blocks it for a while per operation: load shedding
  // (tested in test/plugins) would answer 503 to the fuzzer's own pauses.
  // Logs are hygiene.test.ts's business; here they would only cost time.
  const rig = await startRig(t, { env: { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0', LOG_LEVEL: 'warn' } })
  const { app } = rig
  await rig.addPerson({ email: 'ada@example.com', phone: '+14155552671' })
  const pool = new ValuePool()

  // Realistic state: a flow half-way through onboarding on the anonymous browser, another just started.
  const browser = rig.device()
  pool.add(await browser.verifyEmail('ada@example.com'))
  const started = await browser.post('/api/auth/send-otp', { channel: 'email', email: 'nobody@example.com' })
  pool.add(started.json().flowId)

  const identity = (name: string, roles: string[] | null): Identity => ({
    name,
    device: name === 'anonymous' ? browser : rig.device(),
    authorize: async () => (roles === null ? {} : (await createTestUser(app, { roles })).headers),
  })
  const identities: Identity[] = [
    identity('anonymous', null),
    identity('voter', ['voter']),
    identity('admin', ['admin']),
    {
      // A well-signed token whose user and session do not exist: handlers must not trust that they do.
      name: 'ghost-admin',
      device: rig.device(),
      authorize: async () => ({ authorization: `Bearer ${(await app.tokens.signAccessToken({ userId: randomUUID(), sessionId: randomUUID(), roles: ['admin'] })).token}` }),
    },
  ]

  // Tokens that must not open anything.
  const voter = await createTestUser(app, { roles: ['voter'] })
  const [header, payload, signature] = voter.token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const expired = await app.tokens.signAccessToken({ userId: voter.userId, sessionId: voter.sessionId, roles: ['admin'] }, { ttlSeconds: 1, issuedAt: new Date(Date.now() - 3_600_000) })
  const revoked = await createTestUser(app, { roles: ['admin'] })
  app.tokens.revokedSessions.add(revoked.sessionId)
  const badAuthorizations = [
    'Bearer', 'Bearer ', 'bearer  x', 'Basic dXNlcjpwYXNz', 'Token abc', `Bearer ${'a'.repeat(9000)}`, 'Bearer a.b.c', `Bearer ${voter.token}x`,
    `Bearer ${base64url({ alg: 'none', typ: 'at+jwt', kid: JSON.parse(Buffer.from(header, 'base64url').toString()).kid })}.${base64url({ ...claims, roles: ['admin'] })}.`,
    `Bearer ${header}.${base64url({ ...claims, roles: ['admin'] })}.${signature}`,
    `Bearer ${base64url({ alg: 'HS256', typ: 'at+jwt' })}.${payload}.${signature}`,
    `Bearer ${expired.token}`,
    revoked.headers.authorization,
    `Bearer ${voter.token} ${voter.token}`,
  ]

  const operations = await readOperations(app)
  t.ok(operations.length >= 10, `${operations.length} operations in the OpenAPI document`)

  // Let the pool see what the app hands out before the fuzzing starts (key ids, lists).
  const admin = await createTestUser(app, { roles: ['admin'] })
  for (const operation of operations.filter((o) => o.method === 'GET' && o.pathParams.length === 0 && !o.query.some((p) => p.required))) {
    const reply = await app.inject({ method: 'GET', url: operation.path, headers: admin.headers })
    if (reply.statusCode === 200 && String(reply.headers['content-type']).startsWith('application/json')) pool.harvest(reply.json())
  }

  const report = await runFuzz({
    database: rig.database,
    operations,
    identities,
    bodyLimit: rig.config.bodyLimit,
    badAuthorizations,
    totalCases: TOTAL_CASES,
    seed: SEED,
    pool,
    progress: process.env.FUZZ_PROGRESS ? (line) => console.error(`» ${line}`) : undefined,
  })

  t.comment(`seed ${report.seed} (FUZZ_SEED to replay) on ${usingPostgres ? 'PostgreSQL' : 'PGlite'}: ${report.cases} cases in ${report.durationMs} ms `
    + `(${report.malformed} malformed, ${report.wellFormed} well-formed; ${report.skipped} slow well-formed ones replaced by malformed ones), ${report.snapshots} table snapshots`)
  t.comment(`statuses ${JSON.stringify(report.byStatus)}`)
  t.comment(`kinds ${JSON.stringify(report.byKind)}`)
  t.same(report.failures, [], 'every reply kept the contract')
  t.ok(report.cases >= 10_000, `at least 10 000 cases (${report.cases})`)
  for (const operation of operations) {
    const counts = report.byOperation[operation.id]
    // Without a body, parameters or a token to get wrong, a route has nothing the contract calls malformed.
    const canBeMalformed = operation.body !== undefined || operation.pathParams.length > 0 || operation.query.length > 0 || operation.secured
    t.ok(counts && counts.wellFormed > 0 && (!canBeMalformed || counts.malformed > 0), `${operation.id}: ${JSON.stringify(counts)}`)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted')
})
