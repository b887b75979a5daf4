import { Type } from 'typebox'
import { defineError } from './errors.js'

export const InvalidCursor = defineError('invalid_cursor', 400, 'That cursor is not one this list gave out')

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
}

/** A position in a newest-first list: the time and id of the last item shown (ties broken by id). */
export interface Position {
  at: Date
  id: string
}

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url')
}

export function decodeCursor(cursor: string | undefined): Position | null {
  if (cursor === undefined) return null
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown]
    const time = typeof at === 'string' ? new Date(at) : new Date(NaN)
    if (Number.isNaN(time.getTime()) || typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) throw new Error('bad cursor')
    return { at: time, id }
  } catch {
    throw new InvalidCursor({ details: { field: 'querystring.cursor' } })
  }
}

/** Takes one item more than asked to know whether another page follows. */
export function page<T>(rows: T[], limit: number, position: (row: T) => Position): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(position(last)) : null }
}
