import { rm } from 'node:fs/promises'
import type { CommandIo } from '../../cli.js'
import type { Config } from '../../config.js'
import { embeddedDir, openDatabase, type Database } from '../../db/client.js'
import {
  commitDevMasterKey, decodeMasterKey, generateMasterKey, loadMasterKey, MasterKey, WrongMasterKey, writePendingDevMasterKey,
} from './master-key.js'
import * as repository from './repository.js'

export interface MasterKeyRotation {
  /** Keys re-wrapped under the new master key. */
  rewrapped: number
  /** Version of the new master key (null when there was nothing to wrap). */
  version: number | null
}

/**
 * Re-wraps every stored key from the current master key to a new one, in one transaction under the
 * key-store lock: either every key moves to the new master key (and its new version) or none does.
 * Running instances keep their unwrapped keys in memory; restart them with the new key.
 */
export async function rotateMasterKey(db: Database, current: Buffer, next: Buffer): Promise<MasterKeyRotation> {
  if (current.equals(next)) throw new WrongMasterKey('the new master key is the current one')
  return db.transaction(async (tx) => {
    await repository.lockKeyStore(tx)
    const rows = await repository.allKeys(tx)
    if (rows.length === 0) return { rewrapped: 0, version: null }
    const version = Math.max(...rows.map((row) => row.masterKeyVersion))
    const from = new MasterKey(current, version)
    const to = new MasterKey(next, version + 1)
    for (const row of rows) {
      const binding = { id: row.id, alg: row.alg, use: row.use }
      if (row.masterKeyVersion !== version) throw new WrongMasterKey(`key ${row.id} is wrapped with master key version ${row.masterKeyVersion}, not ${version}`)
      const secret = from.unwrap(row.privateKeyWrapped, binding)
      try {
        const wrapped = to.wrap(secret, binding)
        // Proof before commit: the new wrapping opens.
        to.unwrap(wrapped, binding).fill(0)
        await repository.updateWrapping(tx, row.id, wrapped, to.version)
      } finally {
        secret.fill(0)
      }
    }
    return { rewrapped: rows.length, version: to.version }
  })
}

const USAGE = `usage: rotate-master-key [--new-key-stdin]

Re-wraps every stored key under a new master key (AES-256-GCM, version + 1).
  (no option)       generate the new key and print it on stdout, once
  --new-key-stdin   read the new key (32 bytes, base64) from stdin
With the development key file (no VOTTERY_MASTER_KEY), the file is updated in place.
Then set VOTTERY_MASTER_KEY to the new key and restart every instance.`

/** `npm run cli -- rotate-master-key`: the operator's side of a master-key rotation. Returns the exit code. */
export async function rotateMasterKeyCommand(config: Config, args: string[], io: CommandIo): Promise<number> {
  const unknown = args.filter((arg) => arg !== '--new-key-stdin')
  if (unknown.length > 0 || args.includes('--help')) {
    io.stderr(`${USAGE}\n`)
    return unknown.includes('--help') ? 0 : 64
  }
  const fromStdin = args.includes('--new-key-stdin')
  const source = await loadMasterKey(config)
  const nextBase64 = fromStdin ? (await io.readStdin()).trim() : generateMasterKey()
  const next = decodeMasterKey(nextBase64, 'the new master key')

  // The new key is kept safe before the database moves to it: in a side file next to the
  // development key, or on the operator's terminal.
  let pending: string | null = null
  if (source.file) pending = await writePendingDevMasterKey(source.file, nextBase64)
  else if (!fromStdin) io.stdout(`${nextBase64}\n`)

  const database = await openDatabase({ url: config.database.url, embeddedDir: embeddedDir(config.database.dataDir), poolMax: 2 })
  let result: MasterKeyRotation
  try {
    result = await rotateMasterKey(database.db, source.key, next)
  } catch (error) {
    if (pending) await rm(pending, { force: true })
    throw error
  } finally {
    await database.close()
  }
  if (source.file && pending) await commitDevMasterKey(source.file, pending)

  io.stderr(`re-wrapped ${result.rewrapped} key(s)${result.version ? ` under master key version ${result.version}` : ''}.\n`)
  io.stderr(source.file
    ? `The development key file ${source.file} now holds the new master key.\n`
    : `${fromStdin ? 'The new master key is the one you supplied.' : 'The new master key is printed above (stdout), once.'} `
      + 'Set VOTTERY_MASTER_KEY to it and restart every instance; the old key no longer starts the service.\n')
  return 0
}
