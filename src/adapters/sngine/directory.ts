/**
 * Sngine's people, read-only. Sngine (a PHP social network we do not control) owns the
 * users table; Vottery only ever SELECTs from it.
 */
export interface SngineAccount {
  id: number
  email: string
  phone: string | null
  firstName: string | null
  lastName: string | null
  gender: string | null
  birthDate: string | null
  activated: boolean
  banned: boolean
  emailVerified: boolean
  phoneVerified: boolean
  /** 1 admin, 2 moderator, 3 user. */
  group: number | null
}

export interface SngineDirectory {
  findByEmail(email: string): Promise<SngineAccount | null>
  findById(id: number): Promise<SngineAccount | null>
  /** The accounts among `ids` that exist, in no particular order; an id with no row is simply absent. */
  findManyByIds(ids: readonly number[]): Promise<SngineAccount[]>
  close(): Promise<void>
}

/** Sngine 3.x column names; a deployment with renamed columns overrides some of them. */
export const SNGINE_COLUMNS = {
  id: 'user_id',
  email: 'user_email',
  phone: 'user_phone',
  firstName: 'user_firstname',
  lastName: 'user_lastname',
  gender: 'user_gender',
  birthDate: 'user_birthdate',
  activated: 'user_activated',
  banned: 'user_banned',
  emailVerified: 'user_email_verified',
  phoneVerified: 'user_phone_verified',
  group: 'user_group',
} as const
export type SngineColumns = { [K in keyof typeof SNGINE_COLUMNS]: string }

/** Sngine stores text through PHP's htmlentities (ENT_QUOTES): the same address may be on file encoded. */
export function htmlEntities(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#039;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
}

export function htmlEntityDecode(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

/** Sngine flags are MySQL ENUM('0','1'); other ports store 1/0 or booleans. */
export function sngineFlag(value: unknown): boolean {
  return value === '1' || value === 1 || value === true || value === 'true' || value === 1n
}

/** The two spellings an address may have in Sngine's table, lower-cased for a case-insensitive match. */
export function emailCandidates(email: string): [string, string] {
  const lower = email.trim().toLowerCase()
  return [lower, htmlEntities(lower)]
}

/** Ids per statement in `findManyByIds`: keeps statements and parameter lists small, whatever the caller asks. */
export const IDS_PER_QUERY = 1000

/** Distinct safe integer ids, in chunks of at most `size`. */
export function idChunks(ids: readonly number[], size = IDS_PER_QUERY): number[][] {
  const distinct = [...new Set(ids)].filter((id) => Number.isSafeInteger(id))
  const chunks: number[][] = []
  for (let i = 0; i < distinct.length; i += size) chunks.push(distinct.slice(i, i + size))
  return chunks
}

export function quoteIdentifier(name: string, quote: '"' | '`'): string {
  return name.split('.').map((part) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) throw new Error(`invalid identifier ${JSON.stringify(part)}`)
    return `${quote}${part}${quote}`
  }).join('.')
}

export function selectList(columns: SngineColumns, quote: '"' | '`'): string {
  return (Object.entries(columns) as [keyof SngineColumns, string][])
    .map(([key, column]) => `${quoteIdentifier(column, quote)} as ${quote}${key}${quote}`)
    .join(', ')
}

export function toAccount(row: Record<string, unknown>): SngineAccount {
  const text = (v: unknown) => (v === null || v === undefined || v === '' ? null : htmlEntityDecode(String(v)))
  const birth = row.birthDate instanceof Date ? row.birthDate.toISOString().slice(0, 10) : text(row.birthDate)
  const group = row.group === null || row.group === undefined ? null : Number(row.group)
  return {
    id: Number(row.id),
    email: htmlEntityDecode(String(row.email ?? '')),
    phone: text(row.phone),
    firstName: text(row.firstName),
    lastName: text(row.lastName),
    gender: text(row.gender),
    birthDate: birth === '0000-00-00' ? null : birth,
    activated: sngineFlag(row.activated),
    banned: sngineFlag(row.banned),
    emailVerified: sngineFlag(row.emailVerified),
    phoneVerified: sngineFlag(row.phoneVerified),
    group: Number.isFinite(group) ? group : null,
  }
}
