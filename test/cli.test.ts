import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { decodeMasterKey, generateMasterKey } from '../src/modules/crypto/master-key.js'
import { build, openSharedDatabase, TEST_ENV } from './helper.js'
import { checkArtifacts, makeArtifacts } from './modules/crypto/artifacts.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface CliResult { code: number | null; stdout: string; stderr: string }

/** `npm run cli -- …` as an operator runs it: a child process with only the given environment. */
function runCli(args: string[], env: Record<string, string>, stdin = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}

t.test('rotate-master-key: prints a generated key or takes one on stdin; the service moves to it', async (t) => {
  const shared = await openSharedDatabase(t)
  const env = { ...TEST_ENV, ...shared.env }
  let handle = await shared.open()
  const { app } = await build(t, { database: handle, env: shared.env })
  const artifacts = await makeArtifacts(app)
  await app.close()
  await handle.close()

  const generated = await runCli(['rotate-master-key'], env)
  t.equal(generated.code, 0, generated.stderr)
  const newKey = generated.stdout.trim()
  t.equal(decodeMasterKey(newKey).length, 32, 'stdout is the new key and nothing else')
  t.match(generated.stderr, /re-wrapped \d+ key\(s\) under master key version 2/)

  // An operator-supplied key comes through stdin, never the command line, and is not echoed.
  const supplied = generateMasterKey()
  const fromStdin = await runCli(['rotate-master-key', '--new-key-stdin'], { ...env, VOTTERY_MASTER_KEY: newKey }, `${supplied}\n`)
  t.equal(fromStdin.code, 0, fromStdin.stderr)
  t.equal(fromStdin.stdout, '')
  t.match(fromStdin.stderr, /master key version 3/)

  handle = await shared.open()
  t.teardown(() => handle.close())
  const { app: after } = await build(t, { database: handle, env: { ...shared.env, VOTTERY_MASTER_KEY: supplied } })
  await checkArtifacts(t, after, artifacts)
})

t.test('the dispatcher lists its commands and refuses unknown ones', async (t) => {
  const help = await runCli([], TEST_ENV)
  t.equal(help.code, 0)
  t.match(help.stderr, /rotate-master-key/)
  const unknown = await runCli(['launch-rockets'], TEST_ENV)
  t.equal(unknown.code, 64)
  t.match(unknown.stderr, /usage/)
  const badKey = await runCli(['rotate-master-key'], { ...TEST_ENV, VOTTERY_MASTER_KEY: 'short' })
  t.equal(badKey.code, 78, 'a configuration error exits with EX_CONFIG')
})
