import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { createHmac, randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, type Config } from '../../config.js'
import { AuthenticationFailure, openAesGcm, sealAesGcm } from './primitives/aead.js'

/** Where a development master key is kept when VOTTERY_MASTER_KEY is not set (never in production). */
export const DEV_MASTER_KEY_FILE = 'master.key'
const MASTER_KEY_BYTES = 32

/** What a wrapped key is bound to: unwrapping it under any other identity fails. */
export interface WrapBinding {
  id: string
  alg: string
  use: string
}

export class WrongMasterKey extends Error {
  override name = 'WrongMasterKey'
}

/**
 * The master key wraps every private and data key (AES-256-GCM). Each wrapping records the master
 * key version that made it, and is bound to the key's id, algorithm, use and that version.
 */
export class MasterKey {
  private readonly key: Buffer

  constructor(
    key: Uint8Array,
    /** Version of this master key in the database's history; 1 until the first rotation. */
    readonly version: number,
  ) {
    if (key.length !== MASTER_KEY_BYTES) throw new ConfigError('the master key must be 32 bytes')
    this.key = Buffer.from(key)
  }

  withVersion(version: number): MasterKey {
    return new MasterKey(this.key, version)
  }

  /** A short public fingerprint, so logs can tell master keys apart without showing one. */
  fingerprint(): string {
    return createHmac('sha256', this.key).update('vottery/master-key/fingerprint').digest('base64url').slice(0, 12)
  }

  wrap(secret: Uint8Array, binding: WrapBinding): string {
    return sealAesGcm(this.key, secret, aad(binding, this.version)).toString('base64url')
  }

  /** Throws `WrongMasterKey` when this master key (at this version) did not wrap the value for this binding. */
  unwrap(wrapped: string, binding: WrapBinding): Buffer {
    try {
      return openAesGcm(this.key, Buffer.from(wrapped, 'base64url'), aad(binding, this.version))
    } catch (error) {
      if (error instanceof AuthenticationFailure) throw new WrongMasterKey(`key ${binding.id} cannot be unwrapped with this master key`)
      throw error
    }
  }
}

function aad(binding: WrapBinding, version: number): Buffer {
  return Buffer.from(`vottery/crypto-key/v1|${binding.id}|${binding.alg}|${binding.use}|${version}`)
}

export function decodeMasterKey(base64: string, name = 'VOTTERY_MASTER_KEY'): Buffer {
  const trimmed = base64.trim()
  const key = Buffer.from(trimmed, 'base64')
  if (key.length !== MASTER_KEY_BYTES || key.toString('base64') !== trimmed) {
    throw new ConfigError(`${name} must be 32 bytes, base64 encoded (e.g. openssl rand -base64 32)`)
  }
  return key
}

export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64')
}

export interface MasterKeySource {
  key: Buffer
  /** Set when the key came from the development key file. */
  file?: string
}

/**
 * VOTTERY_MASTER_KEY when set. Otherwise, outside production, a development key kept in
 * `DATA_DIR/master.key` (created on first start, mode 0600) with a loud warning; in production
 * the service refuses to start.
 */
export async function loadMasterKey(config: Config, log?: FastifyBaseLogger): Promise<MasterKeySource> {
  if (config.masterKey) return { key: decodeMasterKey(config.masterKey) }
  if (config.production) throw new ConfigError('missing configuration: VOTTERY_MASTER_KEY')
  const dir = resolve(config.database.dataDir)
  const file = join(dir, DEV_MASTER_KEY_FILE)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  let created = false
  try {
    // `wx`: two processes starting at once agree on whichever key was written first.
    await writeFile(file, generateMasterKey() + '\n', { mode: 0o600, flag: 'wx' })
    created = true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const mode = (await stat(file)).mode & 0o777
  if (mode & 0o077) {
    await chmod(file, 0o600)
    log?.warn({ file, mode: mode.toString(8) }, 'development master key file was readable by others; its mode is now 0600')
  }
  const key = decodeMasterKey(await readFile(file, 'utf8'), file)
  log?.warn(
    { file, created },
    'VOTTERY_MASTER_KEY is not set: every private and data key is wrapped with a DEVELOPMENT master key kept in this file. '
      + 'Anyone who can read it can unwrap them. Set VOTTERY_MASTER_KEY (32 random bytes, base64) for any real deployment; '
      + 'production refuses to start without it.',
  )
  return { key, file }
}

/**
 * First half of moving the development key file to a new key: the new key goes beside it
 * (`master.key.next`, mode 0600) before the database is re-wrapped, so it cannot be lost.
 * A leftover file means an earlier rotation was interrupted; it is never overwritten.
 */
export async function writePendingDevMasterKey(file: string, base64: string): Promise<string> {
  const pending = `${file}.next`
  try {
    await writeFile(pending, base64 + '\n', { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    throw new ConfigError(`${pending} exists: an earlier rotation was interrupted. If the service no longer starts with ${file}, `
      + `the database was re-wrapped: move ${pending} over ${file}. Otherwise delete ${pending}.`)
  }
  return pending
}

/** Second half: the re-wrapped database is committed, the new key takes the file's place. */
export async function commitDevMasterKey(file: string, pending: string): Promise<void> {
  await rename(pending, file)
}
