import { Type, type TSchema } from 'typebox'

/** The contract's error body. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}, { $id: 'ErrorBody', description: 'Every error reply' })

const errorRef = Type.Ref('ErrorBody')

/** Response schemas for the error statuses a route can answer with, beside its success schemas. */
export function withErrors(success: Record<number, TSchema>, ...statuses: number[]): Record<number, TSchema> {
  const all: Record<number, TSchema> = { ...success }
  for (const status of new Set([400, 429, 500, 503, ...statuses])) all[status] = errorRef
  return all
}

export const Uuid = Type.String({ format: 'uuid' })
export const IsoTime = Type.String({ format: 'date-time' })
