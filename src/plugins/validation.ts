import fp from 'fastify-plugin'
import { Ajv, type Options } from 'ajv'
import addFormatsImport from 'ajv-formats'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ValidationFailed } from '../errors.js'

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv

// `discriminator`: a oneOf keyed by a property (e.g. `alg`) validates only the branch that property names.
const common: Options = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false, discriminator: true }

/**
 * Bodies are checked strictly: unknown properties are refused and nothing is coerced, so `"5"` is not 5.
 * Query strings and path parameters arrive as text and are coerced to the declared types.
 * Any NUL character is refused before validation: PostgreSQL cannot store one.
 */
async function validationPlugin(fastify: FastifyInstance) {
  const strict = addFormats(new Ajv({ ...common, coerceTypes: false }))
  const coercing = addFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  for (const ajv of [strict, coercing]) ajv.addKeyword({ keyword: 'x-nullable' })
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema) as never)

  fastify.addHook('preValidation', async (request: FastifyRequest) => {
    for (const [part, value] of [['body', request.body], ['querystring', request.query], ['params', request.params]] as const) {
      const path = findNul(value, part)
      if (path) throw new ValidationFailed({ message: `${path} contains a character that cannot be stored (NUL or a lone surrogate)`, details: { field: path } })
    }
  })
}

/** NUL and unpaired UTF-16 surrogates: PostgreSQL stores neither (text nor jsonb). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function findNul(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null
  if (value === null || typeof value !== 'object' || depth > 64) return null
  for (const [key, inner] of Object.entries(value)) {
    if (UNSTORABLE.test(key)) return path
    const found = findNul(inner, `${path}.${key}`, depth + 1)
    if (found) return found
  }
  return null
}

export default fp(validationPlugin, { name: 'validation', fastify: '5.x' })
