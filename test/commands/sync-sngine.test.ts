import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { syncSngineCommand } from '../../src/commands/sync-sngine.js'
import { startRig } from '../fixtures/onboarding.js'
import { build, openSharedDatabase, TEST_ENV, testConfig } from '../helper.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ADA = { email: 'ada@example.com', phone: '+14155552671' }
const BOB = { email: 'bob@example.com', phone: '+14155550100' }

function io() {
  const out = { stdout: '', stderr: '' }
  return { out, io: { stdout: (s: string) => { out.stdout += s }, stderr: (s: string) => { out.stderr += s }, readStdin: async () => '' } }
}

/** `npm run cli -- …` as an operator runs it: a child process with only the given environment. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end()
  })
}

t.test('sync-sngine: one reconciliation, a summary line, exit 0', async (t) => {
  const shared = await openSharedDatabase(t)
  let handle = await shared.open()
  const rig = await startRig(t, { database: handle, env: shared.env })
  const adaId = await rig.addPerson(ADA)
  await rig.addPerson(BOB)
  const ada = await rig.device().onboard(ADA)
  await rig.device('203.0.113.11').onboard(BOB)
  await rig.database.query(`update public.users set user_banned = '1' where user_id = $1`, [adaId])
  await rig.app.close()
  await handle.close()

  const suspend = io()
  t.equal(await syncSngineCommand(testConfig(shared.env), [], suspend.io), 0, suspend.out.stderr)
  t.equal(suspend.out.stdout, 'sync-sngine: 2 users checked, 1 suspended, 0 reinstated, 1 sessions revoked\n')
  t.equal(suspend.out.stderr, '')

  handle = await shared.open()
  await handle.query(`update public.users set user_banned = '0' where user_id = $1`, [adaId])
  await handle.close()
  // The dispatcher, in a process of its own.
  const reinstate = await runCli(['sync-sngine'], { ...TEST_ENV, ...shared.env })
  t.equal(reinstate.code, 0, reinstate.stderr)
  t.match(reinstate.stdout, /^sync-sngine: 2 users checked, 0 suspended, 1 reinstated, 0 sessions revoked\n$/)

  handle = await shared.open()
  t.teardown(() => handle.close())
  const { app } = await build(t, { database: handle, env: shared.env })
  const events = await app.audit.list({ limit: 10, userId: ada.userId })
  t.match(events.items.filter((event) => event.type.startsWith('user.')), [
    { type: 'user.reinstated', actor: 'cli' },
    { type: 'user.suspended', actor: 'cli', data: { reason: 'banned' } },
  ], 'audited as the command line\'s doing')
  t.equal((await app.users.findById(app.db, ada.userId))?.status, 'active')
})
