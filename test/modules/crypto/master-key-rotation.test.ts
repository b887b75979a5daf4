import t from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { cryptoKeys } from '../../../src/db/schema/index.js'
import { ServiceUnavailable } from '../../../src/errors.js'
import { DEV_MASTER_KEY_FILE, decodeMasterKey, generateMasterKey, WrongMasterKey } from '../../../src/modules/crypto/master-key.js'
import { rotateMasterKey, rotateMasterKeyCommand } from '../../../src/modules/crypto/master-key-rotation.js'
import { build, openSharedDatabase, openTestDatabase, TEST_ENV, testConfig } from '../../helper.js'
import { checkArtifacts, makeArtifacts } from './artifacts.js'

const OLD_KEY = TEST_ENV.VOTTERY_MASTER_KEY!

t.test('rotateMasterKey re-wraps every key; the new key reads everything, the old one no longer starts', async (t) => {
  const database = await openTestDatabase(t)
  const { app: before } = await build(t, { database })
  const artifacts = await makeArtifacts(before, { rsa: true })
  const rowsBefore = await database.db.select().from(cryptoKeys)
  t.ok(rowsBefore.length >= 7)

  const newKey = generateMasterKey()
  await t.rejects(rotateMasterKey(database.db, decodeMasterKey(OLD_KEY), decodeMasterKey(OLD_KEY)), WrongMasterKey, 'the same key')
  await t.rejects(rotateMasterKey(database.db, Buffer.alloc(32, 3), decodeMasterKey(newKey)), WrongMasterKey, 'a wrong current key')
  t.same((await database.db.select().from(cryptoKeys)).map((r) => r.privateKeyWrapped).sort(), rowsBefore.map((r) => r.privateKeyWrapped).sort(),
    'a refused rotation changes nothing')

  const result = await rotateMasterKey(database.db, decodeMasterKey(OLD_KEY), decodeMasterKey(newKey))
  t.same(result, { rewrapped: rowsBefore.length, version: 2 })
  const rowsAfter = await database.db.select().from(cryptoKeys)
  for (const row of rowsBefore) {
    const after = rowsAfter.find((r) => r.id === row.id)!
    t.equal(after.masterKeyVersion, 2, `${row.alg}: version 2`)
    t.not(after.privateKeyWrapped, row.privateKeyWrapped, `${row.alg}: re-wrapped`)
    t.equal(after.publicKey, row.publicKey, `${row.alg}: same key`)
  }

  // The instance still running on the old key keeps what it has unwrapped, but must not add keys nobody could read.
  await t.rejects(before.crypto.keys.create('Ed25519'), ServiceUnavailable)
  t.equal((await database.db.select().from(cryptoKeys).where(eq(cryptoKeys.masterKeyVersion, 1))).length, 0)
  await t.rejects(rotateMasterKey(database.db, decodeMasterKey(OLD_KEY), Buffer.alloc(32, 4)), WrongMasterKey, 'the superseded key cannot rotate again')

  await t.rejects(build(t, { database }), WrongMasterKey, 'the old master key no longer starts the service')
  const { app: after } = await build(t, { database, env: { VOTTERY_MASTER_KEY: newKey } })
  await checkArtifacts(t, after, artifacts)
  t.ok(await after.crypto.keys.create('Ed25519'), 'the new instance makes keys again')
})

t.test('the command with the development key file: the file moves to the new key', async (t) => {
  const shared = await openSharedDatabase(t)
  const devEnv = { ...shared.env, VOTTERY_MASTER_KEY: '', NODE_ENV: 'development' }
  let handle = await shared.open()
  const { app } = await build(t, { database: handle, env: devEnv })
  const artifacts = await makeArtifacts(app)
  await app.close()
  await handle.close()
  const file = join(shared.env.DATA_DIR!, DEV_MASTER_KEY_FILE)
  const before = await readFile(file, 'utf8')

  const out: string[] = []
  const err: string[] = []
  const io = { stdout: (text: string) => { out.push(text) }, stderr: (text: string) => { err.push(text) }, readStdin: async () => '' }
  t.equal(await rotateMasterKeyCommand(testConfig(devEnv), ['--new-key', 'abc'], io), 64, 'unknown options are refused')
  t.match(err.join(''), /--new-key-stdin/)
  t.equal(await rotateMasterKeyCommand(testConfig(devEnv), [], io), 0)
  t.same(out, [], 'the key goes to the file, not the terminal')
  t.match(err.join(''), /development key file .* now holds the new master key/)
  const after = await readFile(file, 'utf8')
  t.not(after, before)
  t.equal(decodeMasterKey(after).length, 32)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  await t.rejects(stat(`${file}.next`), 'no pending file is left behind')

  handle = await shared.open()
  t.teardown(() => handle.close())
  const { app: restarted } = await build(t, { database: handle, env: devEnv })
  await checkArtifacts(t, restarted, artifacts)
})
