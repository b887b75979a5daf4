import type { Database, Executor } from '../../db/client.js'
import type { User } from '../../db/schema/index.js'
import type { Sealed } from '../../db/schema/crypto.js'
import type { SngineAccount } from '../../adapters/sngine/index.js'
import { decodeCursor, page, type Position } from '../../pagination.js'
import { maskEmail, maskPhone } from '../auth/mask.js'
import { AccountSuspended, NotFound } from '../../errors.js'
import * as repo from './repository.js'
import { CannotDemoteSelf } from './errors.js'
import type { UserView } from './schemas.js'

export const EMAIL_CONTEXT = 'users.email'
export const PHONE_CONTEXT = 'users.phone'
const DEMOGRAPHICS_CONTEXT = 'user_profiles.demographics'

export const DEFAULT_ROLE = 'voter'

/** Masked emails and phones kept in memory (about 200 bytes each). */
const MASKED_CACHE_SIZE = 5_000

/**
 * `users.status`. Only `active` users sign in, refresh or onboard another device. `suspended` is set and lifted
 * by the reconciliation with Sngine (sngine-sync.ts), which is the source of truth for who may enter.
 */
export const USER_STATUS = { active: 'active', suspended: 'suspended' } as const

/** Lookup hashes and field encryption: `fastify.crypto`. */
export interface FieldProtection {
  lookupHash(value: string, context: string): string
  seal(plaintext: string, context: string): Promise<Sealed>
  open(sealed: Sealed | string, context: string): Promise<string>
  sealJson(value: unknown, context: string): Promise<Sealed>
  openJson<T = unknown>(sealed: Sealed | string, context: string): Promise<T>
}

/** A Sngine account's details, proven by onboarding, ready to be stored. */
export interface ProvenAccount {
  sngineUserId: number
  displayName: string | null
  /** Lower-cased. */
  email: string
  /** E.164, or null when the account has none. */
  phone: string | null
}

/** The contact details of an account sealed and hashed, computed before a transaction opens. */
export interface SealedAccount {
  sngineUserId: number
  displayName: string | null
  emailHmac: string
  emailEnc: Sealed
  phoneHmac: string | null
  phoneEnc: Sealed | null
}

export interface ProfileView extends UserView {
  bio: string | null
  avatarUrl: string | null
  preferences: Record<string, unknown>
  language: string | null
}

export interface Demographics {
  gender: string | null
  birthDate: string | null
  country: string | null
  region: string | null
  city: string | null
  language: string | null
}

const EMPTY_DEMOGRAPHICS: Demographics = { gender: null, birthDate: null, country: null, region: null, city: null, language: null }

export interface AuditFn {
  (event: { type: string; userId?: string | null; actor?: string | null; ip?: string | null; data?: Record<string, string | number | boolean | null> }): Promise<unknown>
}

/**
 * What other modules call as `fastify.users`: Vottery users linked one-to-one to Sngine accounts, their
 * profiles, demographics (sealed at rest), roles and activity. Email and phone are stored only as a lookup
 * hash and a sealed copy; replies show them masked.
 */
export class UserService {
  /** Masked email and phone by sealed value: see {@link UserService.masked}. */
  private readonly maskedCache = new Map<string, string | null>()

  constructor(private readonly deps: { db: Database; fields: FieldProtection; audit: AuditFn; genderMap: Record<string, string> }) {}

  async seal(account: ProvenAccount): Promise<SealedAccount> {
    const { fields } = this.deps
    return {
      sngineUserId: account.sngineUserId,
      displayName: account.displayName,
      emailHmac: fields.lookupHash(account.email, EMAIL_CONTEXT),
      emailEnc: await fields.seal(account.email, EMAIL_CONTEXT),
      phoneHmac: account.phone === null ? null : fields.lookupHash(account.phone, PHONE_CONTEXT),
      phoneEnc: account.phone === null ? null : await fields.seal(account.phone, PHONE_CONTEXT),
    }
  }

  /**
   * The user of a Sngine account, created with `proposedId` and the `voter` role the first time, with the
   * demographics Sngine has (sealed beforehand by `sealDemographics`) — only then: what the person sets later
   * is theirs, and another device's onboarding leaves it alone. A suspended user is refused.
   * Meant to run inside the caller's transaction.
   */
  async ensureUser(tx: Executor, account: SealedAccount, proposedId: string, options: { demographics?: Sealed | null } = {}): Promise<User> {
    const { user, created } = await repo.upsertUserFromSngine(tx, { id: proposedId, ...account })
    this.requireActive(user)
    await repo.grantRole(tx, user.id, DEFAULT_ROLE, 'onboarding')
    if (created && options.demographics) await repo.upsertProfile(tx, user.id, { demographicsEnc: options.demographics })
    return user
  }

  /** Throws 403 unless the user may sign in. */
  requireActive(user: Pick<User, 'status'>): void {
    if (user.status !== USER_STATUS.active) throw new AccountSuspended({ details: { status: user.status } })
  }

  findById(db: Executor, id: string): Promise<User | undefined> {
    return repo.findUserById(db, id)
  }

  findBySngineId(db: Executor, sngineUserId: number): Promise<User | undefined> {
    return repo.findUserBySngineId(db, sngineUserId)
  }

  rolesOf(db: Executor, userId: string): Promise<string[]> {
    return repo.rolesOf(db, userId)
  }

  /** Notes a sign-in, inside the sign-in's transaction; refuses a user who is not active by then. */
  async recordLogin(db: Executor, userId: string): Promise<User> {
    const user = await repo.recordLogin(db, userId)
    if (!user) throw new AccountSuspended({ details: { status: USER_STATUS.suspended } })
    return user
  }

  async view(user: User, roles?: readonly string[]): Promise<UserView> {
    const [email, phone] = await Promise.all([
      this.masked(user.emailEnc, EMAIL_CONTEXT, maskEmail),
      user.phoneEnc ? this.masked(user.phoneEnc, PHONE_CONTEXT, (phone) => phone ? maskPhone(phone) : null) : Promise.resolve(null),
    ])
    return {
      id: user.id,
      sngineUserId: user.sngineUserId,
      displayName: user.displayName,
      email,
      phone,
      roles: roles ? [...roles] : await repo.rolesOf(this.deps.db, user.id),
      createdAt: user.createdAt.toISOString(),
      lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    }
  }

  /**
   * The masked form of a sealed email or phone. Opening costs an AES-GCM decryption, and the status of
   * every signed-in page load shows both: the masked forms (never the clear values) of the most recently
   * shown are kept, keyed by the sealed value itself, so a changed or re-sealed value is opened afresh.
   */
  private async masked<T extends string | null>(value: Sealed | string, context: string, mask: (clear: string) => T): Promise<T> {
    const key = `${context}:${value}`
    const cached = this.maskedCache.get(key)
    if (cached !== undefined) {
      // Most recently used last: a Map iterates in insertion order.
      this.maskedCache.delete(key)
      this.maskedCache.set(key, cached)
      return cached as T
    }
    const shown = mask(await this.deps.fields.open(value, context))
    this.maskedCache.set(key, shown)
    if (this.maskedCache.size > MASKED_CACHE_SIZE) this.maskedCache.delete(this.maskedCache.keys().next().value!)
    return shown
  }

  async viewById(userId: string): Promise<UserView> {
    return this.view(await this.require(userId))
  }

  async profile(userId: string): Promise<ProfileView> {
    const user = await this.require(userId)
    const [view, profile] = await Promise.all([this.view(user), repo.findProfile(this.deps.db, userId)])
    return {
      ...view,
      bio: profile?.bio ?? null,
      avatarUrl: profile?.avatarUrl ?? null,
      preferences: profile?.preferences ?? {},
      language: profile?.language ?? null,
    }
  }

  async updateProfile(userId: string, changes: { displayName?: string; bio?: string | null; avatarUrl?: string | null; preferences?: Record<string, unknown>; language?: string | null }, ip: string): Promise<ProfileView> {
    await this.require(userId)
    const { displayName, ...rest } = changes
    await this.deps.db.transaction(async (tx) => {
      if (displayName !== undefined) await repo.setDisplayName(tx, userId, displayName)
      const profileChanges = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined))
      await repo.upsertProfile(tx, userId, profileChanges)
    })
    await this.deps.audit({ type: 'user.profile_updated', userId, actor: userId, ip, data: { fields: Object.keys(changes).sort().join(',') } })
    return this.profile(userId)
  }

  async demographics(userId: string): Promise<Demographics> {
    await this.require(userId)
    const profile = await repo.findProfile(this.deps.db, userId)
    if (!profile?.demographicsEnc) return { ...EMPTY_DEMOGRAPHICS }
    return { ...EMPTY_DEMOGRAPHICS, ...await this.deps.fields.openJson<Partial<Demographics>>(profile.demographicsEnc, DEMOGRAPHICS_CONTEXT) }
  }

  /** Fields given replace what was stored; `null` clears one. */
  async updateDemographics(userId: string, changes: Partial<Demographics>, ip: string): Promise<Demographics> {
    const merged = { ...await this.demographics(userId), ...changes }
    const sealed = await this.deps.fields.sealJson(merged, DEMOGRAPHICS_CONTEXT)
    await repo.upsertProfile(this.deps.db, userId, { demographicsEnc: sealed })
    await this.deps.audit({ type: 'user.demographics_updated', userId, actor: userId, ip, data: { fields: Object.keys(changes).sort().join(',') } })
    return merged
  }

  /** What onboarding knows from Sngine, mapped to our demographics (first onboarding only). */
  demographicsFromSngine(account: SngineAccount): Partial<Demographics> {
    const gender = account.gender === null ? null : this.deps.genderMap[account.gender.trim().toLowerCase()] ?? null
    const birthDate = account.birthDate && /^\d{4}-\d{2}-\d{2}$/.test(account.birthDate) ? account.birthDate : null
    return { ...(gender ? { gender } : {}), ...(birthDate ? { birthDate } : {}) }
  }

  /** Sealed for `ensureUser`; null when there is nothing to store. */
  async sealDemographics(demographics: Partial<Demographics>): Promise<Sealed | null> {
    if (Object.values(demographics).every((value) => value === null || value === undefined)) return null
    return this.deps.fields.sealJson({ ...EMPTY_DEMOGRAPHICS, ...demographics }, DEMOGRAPHICS_CONTEXT)
  }

  async recordActivity(userId: string, type: string, meta: Record<string, unknown> | undefined) {
    const entry = await repo.insertActivity(this.deps.db, { userId, type, meta: meta ?? null })
    return activityView(entry)
  }

  async listActivity(userId: string, limit: number, cursor?: string) {
    const rows = await repo.listActivity(this.deps.db, userId, { limit, after: decodeCursor(cursor) })
    const { items, nextCursor } = page(rows, limit, positionOf)
    return { items: items.map(activityView), nextCursor }
  }

  async listUsers(limit: number, cursor?: string, email?: string) {
    const emailHmac = email ? this.deps.fields.lookupHash(email.trim().toLowerCase(), EMAIL_CONTEXT) : undefined
    const rows = await repo.listUsers(this.deps.db, { limit, after: decodeCursor(cursor), emailHmac })
    const { items, nextCursor } = page(rows, limit, positionOf)
    const roles = await repo.rolesOfMany(this.deps.db, items.map((u) => u.id))
    return { items: await Promise.all(items.map((u) => this.view(u, roles.get(u.id)))), nextCursor }
  }

  /** Replaces a user's roles (everyone keeps `voter`); takes effect at their next token refresh. */
  async setRoles(userId: string, roles: string[], actor: { userId: string | null; label: string; ip: string | null }): Promise<UserView> {
    const user = await this.require(userId)
    const wanted = [...new Set(['voter', ...roles])].sort()
    if (actor.userId === userId && !wanted.includes('admin')) throw new CannotDemoteSelf()
    const before = await repo.rolesOf(this.deps.db, userId)
    await this.deps.db.transaction(async (tx) => {
      await repo.replaceRoles(tx, userId, wanted, actor.label)
    })
    await this.deps.audit({ type: 'user.roles_changed', userId, actor: actor.userId ?? actor.label, ip: actor.ip, data: { before: before.join(','), after: wanted.join(',') } })
    return this.view(user, wanted)
  }

  async findByEmail(email: string): Promise<User | undefined> {
    return repo.findUserByEmailHmac(this.deps.db, this.deps.fields.lookupHash(email.trim().toLowerCase(), EMAIL_CONTEXT))
  }

  private async require(userId: string): Promise<User> {
    const user = await repo.findUserById(this.deps.db, userId)
    if (!user) throw new NotFound()
    return user
  }
}

function positionOf(row: { createdAt: Date; id: string }): Position {
  return { at: row.createdAt, id: row.id }
}

function activityView(entry: repo.ActivityEntry) {
  return { id: entry.id, type: entry.type, meta: entry.meta ?? null, createdAt: entry.createdAt.toISOString() }
}

/** `SNGINE_GENDER_MAP` ("1:male,2:female") to a lookup; Sngine keeps gender as its own integer ids. */
export function parseGenderMap(text: string): Record<string, string> {
  const map: Record<string, string> = {}
  for (const pair of text.split(',')) {
    const [key, value] = pair.split(':').map((s) => s.trim().toLowerCase())
    if (key && value) map[key] = value
  }
  return map
}
