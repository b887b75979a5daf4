import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { DatabaseHandle, Executor } from '../../db/client.js'
import type { CryptoKey } from '../../db/schema/index.js'
import { NotFound, ServiceUnavailable } from '../../errors.js'
import {
  ASYMMETRIC_ALGORITHMS, KEY_USE, generateKeyMaterial, isAsymmetric, isKeyAlgorithm, parseKeyMaterial,
  type AsymmetricAlgorithm, type KeyAlgorithm, type KeyMaterial, type KeyStatus, type KeyUse, type NewKeyMaterial,
} from './algorithms.js'
import { KeyNotActive, KeyNotRotatable, KeyRetired } from './errors.js'
import { MasterKey, WrongMasterKey, type WrapBinding } from './master-key.js'
import * as repository from './repository.js'

/** Other instances learn of new, rotated and retired keys on this channel (payload: the key id). */
export const KEY_CHANGES_CHANNEL = 'vottery_crypto_keys'
/** Belt and braces beside the notifications: the active key of an algorithm is looked up again this often. */
const ACTIVE_RECHECK_MS = 60_000
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A key's public description; what replies are made of. */
export interface KeyInfo {
  id: string
  alg: KeyAlgorithm
  use: KeyUse
  status: KeyStatus
  publicKey: string | null
  createdAt: Date
}

export interface PublicKeyInfo extends KeyInfo {
  alg: AsymmetricAlgorithm
  publicKey: string
}

/** A key ready for use: its private half unwrapped, held in memory only. */
export interface LoadedKey extends KeyInfo {
  material: KeyMaterial
}

export function isKeyId(value: string): boolean {
  return KEY_ID.test(value)
}

function binding(row: Pick<CryptoKey, 'id' | 'alg' | 'use'>): WrapBinding {
  return { id: row.id, alg: row.alg, use: row.use }
}

function describe(row: CryptoKey): KeyInfo {
  if (!isKeyAlgorithm(row.alg)) throw new Error(`key ${row.id} has an unknown algorithm`)
  return { id: row.id, alg: row.alg, use: row.use as KeyUse, status: row.status as KeyStatus, publicKey: row.publicKey, createdAt: row.createdAt }
}

/**
 * Checks the master key against the stored keys and finds its version: it must unwrap a key of the
 * newest version (every key has that version once a rotation has committed). Refuses any other key.
 */
export async function resolveMasterKey(db: Executor, key: Buffer): Promise<MasterKey> {
  const newest = await repository.newestMasterKeyVersion(db)
  if (newest === null) return new MasterKey(key, 1)
  const candidate = new MasterKey(key, newest)
  const [sample] = await repository.keysOfMasterKeyVersion(db, newest, 1)
  try {
    candidate.unwrap(sample!.privateKeyWrapped, binding(sample!)).fill(0)
  } catch (error) {
    if (!(error instanceof WrongMasterKey)) throw error
    throw new WrongMasterKey('VOTTERY_MASTER_KEY does not unwrap the keys stored in this database '
      + '(a wrong key, one from another installation, or one since rotated away)')
  }
  return candidate
}

export interface KeyStoreOptions {
  database: Pick<DatabaseHandle, 'db' | 'listen' | 'notify'>
  masterKey: MasterKey
  log: FastifyBaseLogger
}

/**
 * Every key of the service, wrapped under the master key in `vottery.crypto_keys`. Keys are made on
 * first need (RSA-3072 costs about a second), unwrapped once and kept in memory. Rotation makes a new
 * active key; the old one stays `rotated` and keeps decrypting and verifying; a `retired` key does nothing.
 */
export class KeyStore {
  private readonly db: KeyStoreOptions['database']['db']
  private readonly loaded = new Map<string, LoadedKey>()
  private readonly activeIds = new Map<KeyAlgorithm, { id: string; checkedAt: number }>()
  private readonly inFlight = new Map<KeyAlgorithm, Promise<LoadedKey>>()
  private readonly listeners = new Set<(id: string | null) => void>()

  constructor(private readonly options: KeyStoreOptions) {
    this.db = options.database.db
  }

  static async open(options: Omit<KeyStoreOptions, 'masterKey'> & { masterKey: Buffer }): Promise<KeyStore> {
    const masterKey = await resolveMasterKey(options.database.db, options.masterKey)
    options.log.info({ masterKeyVersion: masterKey.version, masterKeyFingerprint: masterKey.fingerprint() }, 'master key accepted')
    return new KeyStore({ ...options, masterKey })
  }

  get masterKeyVersion(): number {
    return this.options.masterKey.version
  }

  /** The active key of `alg`, made now if there is none yet. */
  async active(alg: KeyAlgorithm): Promise<LoadedKey> {
    const pointer = this.activeIds.get(alg)
    if (pointer && Date.now() - pointer.checkedAt < ACTIVE_RECHECK_MS) {
      const key = this.loaded.get(pointer.id)
      if (key?.status === 'active') return key
    }
    let pending = this.inFlight.get(alg)
    if (!pending) {
      pending = this.loadActive(alg).finally(() => this.inFlight.delete(alg))
      this.inFlight.set(alg, pending)
    }
    return pending
  }

  private async loadActive(alg: KeyAlgorithm): Promise<LoadedKey> {
    const row = await repository.findActiveKey(this.db, alg) ?? await this.createFirst(alg)
    const key = this.load(row)
    this.activeIds.set(alg, { id: key.id, checkedAt: Date.now() })
    return key
  }

  /** Any key by id, whatever its status; null when there is no such key. */
  async get(id: string): Promise<LoadedKey | null> {
    if (!isKeyId(id)) return null
    const cached = this.loaded.get(id)
    if (cached) return cached
    const row = await repository.findKey(this.db, id)
    return row ? this.load(row) : null
  }

  /** Public descriptions of keys that have a public half, newest first. */
  async list(filter: { alg?: AsymmetricAlgorithm; status?: KeyStatus } = {}): Promise<PublicKeyInfo[]> {
    const rows = await repository.listKeys(this.db, { algs: filter.alg ? [filter.alg] : ASYMMETRIC_ALGORITHMS, status: filter.status })
    return rows.map((row) => describe(row) as PublicKeyInfo)
  }

  /** A new active key of `alg`; the previous active one, if any, becomes `rotated`. */
  async create(alg: KeyAlgorithm): Promise<LoadedKey> {
    if (alg === 'HMAC-SHA256' && await repository.findActiveKey(this.db, alg)) throw new KeyNotRotatable()
    const material = await generateKeyMaterial(alg)
    const { row, demoted } = await this.db.transaction(async (tx) => {
      await repository.lockKeyStore(tx)
      await this.assertMasterKeyCurrent(tx)
      const demoted = await repository.demoteActiveKeys(tx, alg)
      return { row: await repository.insertKey(tx, this.newRow(alg, material)), demoted }
    }).finally(() => material.secret.fill(0))
    this.options.log.info({ keyId: row.id, alg, rotated: demoted }, 'key created')
    await this.announce([...demoted, row.id])
    return this.load(row)
  }

  /** Rotates the active key `id`: a new key takes over, `id` keeps decrypting and verifying. */
  async rotate(id: string): Promise<LoadedKey> {
    const current = isKeyId(id) ? await repository.findKey(this.db, id) : undefined
    if (!current) throw new NotFound({ message: 'No such key' })
    const info = describe(current)
    // Lookup hashes are compared across all time: a new MAC key would orphan every stored hash.
    if (info.alg === 'HMAC-SHA256') throw new KeyNotRotatable()
    if (info.status !== 'active') throw new KeyNotActive()
    const material = await generateKeyMaterial(info.alg)
    const row = await this.db.transaction(async (tx) => {
      await repository.lockKeyStore(tx)
      await this.assertMasterKeyCurrent(tx)
      const fresh = await repository.findKey(tx, id)
      if (fresh?.status !== 'active') throw new KeyNotActive()
      await repository.demoteActiveKeys(tx, info.alg)
      return repository.insertKey(tx, this.newRow(info.alg, material))
    }).finally(() => material.secret.fill(0))
    this.options.log.info({ keyId: row.id, alg: info.alg, rotated: id }, 'key rotated')
    await this.announce([id, row.id])
    return this.load(row)
  }

  /** Withdraws a key from every use. Secret keys are not retired: the data sealed or hashed with them would be lost. */
  async retire(id: string): Promise<KeyInfo> {
    const current = isKeyId(id) ? await repository.findKey(this.db, id) : undefined
    if (!current) throw new NotFound({ message: 'No such key' })
    if (!isAsymmetric(current.alg)) throw new KeyNotRotatable({ message: 'Secret keys cannot be retired' })
    const row = await repository.retireKey(this.db, id)
    if (!row) throw new KeyRetired()
    this.options.log.warn({ keyId: id, alg: row.alg }, 'key retired')
    await this.announce([id])
    return describe(row)
  }

  /** Called with the id of a key that changed (null: possibly all); listeners drop what they derived from keys. */
  onChange(listener: (id: string | null) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Forgets cached state, here and in listeners, so the next use reads the key again. */
  invalidate(id: string | null): void {
    if (id === null) this.loaded.clear()
    else this.loaded.delete(id)
    this.activeIds.clear()
    for (const listener of this.listeners) listener(id)
  }

  /** Follows other instances' key changes; returns the function that stops it. */
  async listen(): Promise<() => Promise<void>> {
    return this.options.database.listen(KEY_CHANGES_CHANNEL, (payload) => this.invalidate(isKeyId(payload) ? payload : null))
  }

  private async announce(ids: string[]): Promise<void> {
    for (const id of ids) this.invalidate(id)
    for (const id of ids) {
      await this.options.database.notify(KEY_CHANGES_CHANNEL, id).catch((err: unknown) =>
        this.options.log.warn({ err }, 'could not announce a key change; other instances will notice within a minute'))
    }
  }

  /** The first active key of `alg`, unless another instance made it first. */
  private async createFirst(alg: KeyAlgorithm): Promise<CryptoKey> {
    const material = await generateKeyMaterial(alg)
    const { row, created } = await this.db.transaction(async (tx) => {
      await repository.lockKeyStore(tx)
      await this.assertMasterKeyCurrent(tx)
      const existing = await repository.findActiveKey(tx, alg)
      if (existing) return { row: existing, created: false }
      return { row: await repository.insertKey(tx, this.newRow(alg, material)), created: true }
    }).finally(() => material.secret.fill(0))
    if (created) {
      this.options.log.info({ keyId: row.id, alg }, 'key generated on first use')
      await this.announce([row.id])
    }
    return row
  }

  private newRow(alg: KeyAlgorithm, material: NewKeyMaterial): repository.NewCryptoKey {
    const id = randomUUID()
    const use = KEY_USE[alg]
    return {
      id,
      alg,
      use,
      status: 'active',
      publicKey: material.publicKey,
      privateKeyWrapped: this.options.masterKey.wrap(material.secret, { id, alg, use }),
      masterKeyVersion: this.options.masterKey.version,
    }
  }

  /** A stale instance (its master key rotated away) must not add keys nobody could unwrap after a restart. */
  private async assertMasterKeyCurrent(db: Executor): Promise<void> {
    const newest = await repository.newestMasterKeyVersion(db)
    if (newest !== null && newest > this.options.masterKey.version) {
      this.options.log.error({ newest, mine: this.options.masterKey.version }, 'the master key was rotated; restart with the new VOTTERY_MASTER_KEY')
      throw new ServiceUnavailable({ retryAfter: 60 })
    }
  }

  private load(row: CryptoKey): LoadedKey {
    const info = describe(row)
    const cached = this.loaded.get(row.id)
    if (cached) {
      // Same key, perhaps a new status: keep the unwrapped material.
      const updated = { ...cached, status: info.status }
      this.loaded.set(row.id, updated)
      return updated
    }
    let secret: Buffer
    try {
      if (row.masterKeyVersion !== this.options.masterKey.version) throw new WrongMasterKey(`key ${row.id} is wrapped with master key version ${row.masterKeyVersion}`)
      secret = this.options.masterKey.unwrap(row.privateKeyWrapped, binding(row))
    } catch (error) {
      this.options.log.error({ keyId: row.id, err: error }, 'a stored key cannot be unwrapped with this master key')
      throw new ServiceUnavailable({ retryAfter: 60 })
    }
    try {
      const key: LoadedKey = { ...info, material: parseKeyMaterial(info.alg, secret, row.publicKey) }
      this.loaded.set(row.id, key)
      return key
    } finally {
      // Key objects and bigints keep their own copies; the raw bytes need not linger.
      if (info.alg !== 'A256GCM' && info.alg !== 'HMAC-SHA256') secret.fill(0)
    }
  }
}
