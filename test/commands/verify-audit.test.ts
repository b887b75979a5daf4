import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import { openDatabase, embeddedDir, type DatabaseHandle } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { recordAuditEvent } from '../../src/modules/users/audit.js'
import { verifyAuditCommand, VERIFY_AUDIT_EXIT } from '../../src/commands/verify-audit.js'
import { createPostgresDatabase, testConfig, usingPostgres } from '../helper.js'

function capture() {
  const stdout: string[] = []
  const stderr: string[] = []
  return {
    output: { stdout: { write: (text: string) => stdout.push(text) }, stderr: { write: (text: string) => stderr.push(text) } },
    stdout, stderr,
  }
}

/**
 * The command opens the database itself, from configuration: a PostgreSQL database by URL, or an embedded
 * one in a data directory (closed before the command runs: one process at a time may hold it).
 */
async function commandDatabase(t: Test) {
  if (usingPostgres) {
    const url = await createPostgresDatabase(t)
    return { config: testConfig({ DATABASE_URL: url }), open: () => openDatabase({ url, poolMax: 2 }) }
  }
  const dataDir = t.testdir()
  const config = testConfig({ DATA_DIR: dataDir })
  return { config, open: () => openDatabase({ embeddedDir: embeddedDir(dataDir) }) }
}

async function using<T>(open: () => Promise<DatabaseHandle>, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await open()
  try {
    return await fn(handle)
  } finally {
    await handle.close()
  }
}

t.test('says whether the chain is intact, prints the head, and exits accordingly', async (t) => {
  const { config, open } = await commandDatabase(t)
  await using(open, (handle) => runMigrations(handle))

  let run = capture()
  t.equal(await verifyAuditCommand(config, run.output), VERIFY_AUDIT_EXIT.intact)
  t.same(run.stdout, ['audit chain intact: 0 events, no events yet\n'])

  const recorded = await using(open, async (handle) => [
    await recordAuditEvent(handle.db, { type: 'otp.sent' }),
    await recordAuditEvent(handle.db, { type: 'otp.verified' }),
    await recordAuditEvent(handle.db, { type: 'passkey.registered' }),
  ])
  run = capture()
  t.equal(await verifyAuditCommand(config, run.output), 0)
  t.same(run.stdout, [`audit chain intact: 3 events, head seq 3 hash ${recorded[2]!.hash}\n`])
  t.same(run.stderr, [])

  await using(open, async (handle) => {
    await handle.query('alter table vottery.audit_events disable trigger audit_events_append_only')
    await handle.query('delete from vottery.audit_events where seq = 2')
  })
  run = capture()
  t.equal(await verifyAuditCommand(config, run.output), VERIFY_AUDIT_EXIT.broken)
  t.same(run.stdout, ['audit chain BROKEN at seq 3: gap (1 events verified before it)\n'])
})

t.test('exits 2 when there is nothing to verify', async (t) => {
  const missing = join(t.testdir(), 'nowhere')
  let run = capture()
  t.equal(await verifyAuditCommand(testConfig({ DATA_DIR: missing }), run.output), VERIFY_AUDIT_EXIT.failed, 'no embedded database')
  t.match(run.stderr.join(''), /audit chain not verified: no embedded database at .*nowhere/)

  run = capture()
  t.equal(await verifyAuditCommand(testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/vottery' }), run.output), 2,
    'an unreachable server')
  t.match(run.stderr.join(''), /^audit chain not verified: /)

  const url = await createPostgresDatabase(t)
  run = capture()
  t.equal(await verifyAuditCommand(testConfig({ DATABASE_URL: url }), run.output), 2, 'a database without the audit table')
  t.match(run.stderr.join(''), /^audit chain not verified: /)
  t.same(run.stdout, [])
})
