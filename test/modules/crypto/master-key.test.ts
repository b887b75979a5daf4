import t from 'tap'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../../src/config.js'
import { cryptoKeys } from '../../../src/db/schema/index.js'
import {
  DEV_MASTER_KEY_FILE, decodeMasterKey, generateMasterKey, loadMasterKey, MasterKey, WrongMasterKey,
} from '../../../src/modules/crypto/master-key.js'
import { build, openTestDatabase, TEST_ENV, testConfig } from '../../helper.js'

const testMasterKey = () => decodeMasterKey(TEST_ENV.VOTTERY_MASTER_KEY!)

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vottery-mk-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('wrapping is bound to the key, its identity and the master-key version', async (t) => {
  const master = new MasterKey(Buffer.alloc(32, 1), 1)
  const binding = { id: 'a1', alg: 'Ed25519', use: 'sig' }
  const wrapped = master.wrap(Buffer.from('secret bytes'), binding)
  t.same(master.unwrap(wrapped, binding), Buffer.from('secret bytes'))
  t.not(master.wrap(Buffer.from('secret bytes'), binding), wrapped, 'a fresh nonce every time')
  t.throws(() => new MasterKey(Buffer.alloc(32, 2), 1).unwrap(wrapped, binding), WrongMasterKey, 'another master key')
  t.throws(() => master.withVersion(2).unwrap(wrapped, binding), WrongMasterKey, 'another version')
  t.throws(() => master.unwrap(wrapped, { ...binding, id: 'a2' }), WrongMasterKey, 'moved to another key row')
  t.throws(() => master.unwrap(wrapped, { ...binding, alg: 'EdDSA' }), WrongMasterKey, 'relabelled as another algorithm')
  t.throws(() => master.unwrap(wrapped, { ...binding, use: 'jwt' }), WrongMasterKey, 'relabelled as another use')
  t.throws(() => master.unwrap(wrapped.slice(0, -2), binding), WrongMasterKey, 'truncated')
  t.not(new MasterKey(Buffer.alloc(32, 2), 1).fingerprint(), master.fingerprint())
})

t.test('master keys must be exactly 32 bytes of canonical base64', async (t) => {
  t.equal(decodeMasterKey(generateMasterKey()).length, 32)
  for (const bad of ['', 'abc', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), Buffer.alloc(32).toString('base64url')]) {
    t.throws(() => decodeMasterKey(bad), ConfigError, JSON.stringify(bad))
  }
})

t.test('production without VOTTERY_MASTER_KEY refuses to start', async (t) => {
  const config = { ...testConfig(), production: true, masterKey: undefined }
  await t.rejects(loadMasterKey(config), ConfigError)
})

t.test('development without VOTTERY_MASTER_KEY: a key file under DATA_DIR, mode 0600, with a loud warning', async (t) => {
  const dataDir = await tempDir(t)
  const file = join(dataDir, DEV_MASTER_KEY_FILE)
  const warnings: string[] = []
  const log = { warn: (_obj: unknown, message: string) => { warnings.push(message) } } as never
  const config = testConfig({ VOTTERY_MASTER_KEY: '', DATA_DIR: dataDir, NODE_ENV: 'development' })
  t.equal(config.masterKey, undefined)

  const [first, second] = await Promise.all([loadMasterKey(config, log), loadMasterKey(config, log)])
  t.same(first.key, second.key, 'two processes starting at once agree on one key')
  t.equal(first.file, file)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.same(decodeMasterKey(await readFile(file, 'utf8')), first.key)
  t.match(warnings.join('\n'), /VOTTERY_MASTER_KEY is not set.*DEVELOPMENT master key/)

  await chmod(file, 0o644)
  const again = await loadMasterKey(config, log)
  t.same(again.key, first.key, 'the same key on the next start')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a loosened file mode is tightened again')

  await writeFile(file, 'not a key\n')
  await t.rejects(loadMasterKey(config, log), ConfigError, 'a damaged key file stops the start')
})

t.test('an app without VOTTERY_MASTER_KEY starts in development with the generated key and says so', async (t) => {
  const dataDir = await tempDir(t)
  const { logs } = await build(t, { env: { VOTTERY_MASTER_KEY: '', DATA_DIR: dataDir, NODE_ENV: 'development' } })
  t.ok(logs.some((line) => line.includes('DEVELOPMENT master key') && JSON.parse(line).level === 40), 'a warning in the log')
  t.equal((await stat(join(dataDir, DEV_MASTER_KEY_FILE))).mode & 0o777, 0o600)
})

t.test('wrapped keys in the database are of no use without the master key', async (t) => {
  const { app, database } = await build(t)
  await app.crypto.keys.active('RSA-PSS-SHA256')
  const rows = await database.db.select().from(cryptoKeys)
  t.ok(rows.length >= 4, 'token, data, MAC and RSA keys are stored')
  const other = new MasterKey(Buffer.alloc(32, 9), rows[0]!.masterKeyVersion)
  for (const row of rows) {
    const binding = { id: row.id, alg: row.alg, use: row.use }
    const raw = Buffer.from(row.privateKeyWrapped, 'base64url')
    t.throws(() => createPrivateKey({ key: raw, format: 'der', type: 'pkcs8' }), `${row.alg}: the stored bytes are not a private key`)
    t.throws(() => other.unwrap(row.privateKeyWrapped, binding), WrongMasterKey, `${row.alg}: another master key cannot unwrap it`)
    // The positive control: the right master key does unwrap it, so the checks above are meaningful.
    const secret = new MasterKey(testMasterKey(), row.masterKeyVersion).unwrap(row.privateKeyWrapped, binding)
    if (row.alg === 'RSA-PSS-SHA256' || row.alg === 'EdDSA') {
      const publicPem = createPublicKey(createPrivateKey({ key: secret, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'pem' })
      t.equal(publicPem, row.publicKey, `${row.alg}: the unwrapped key matches the published one`)
    }
  }
})

t.test('an app refuses to start with a master key that did not wrap the stored keys', async (t) => {
  const database = await openTestDatabase(t)
  await build(t, { database })
  await t.rejects(build(t, { database, env: { VOTTERY_MASTER_KEY: Buffer.alloc(32, 8).toString('base64') } }), WrongMasterKey)
})
