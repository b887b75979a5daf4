import createError from '@fastify/error'
import type { FastifyBaseLogger } from 'fastify'

/**
 * Domain errors. Services throw these; the root error handler (plugins/errors.ts)
 * turns them into the contract's body `{ statusCode, code, error, message, details? }`.
 * The Fastify error code is the API code, upper-cased and prefixed: `VOTTERY_INVALID_CODE` → `invalid_code`.
 */
export interface ApiErrorExtras {
  /** Replaces the default message (human text; never secrets). */
  message?: string
  details?: Record<string, unknown>
  /** Seconds; sent as `Retry-After`. */
  retryAfter?: number
}

export interface ApiError extends Error {
  statusCode: number
  code: string
  apiCode: string
  details?: Record<string, unknown>
  retryAfter?: number
}

export type ApiErrorClass = new (extras?: ApiErrorExtras) => ApiError

const PREFIX = 'VOTTERY_'

export function defineError(apiCode: string, statusCode: number, message: string): ApiErrorClass {
  const Base = createError(PREFIX + apiCode.toUpperCase(), message, statusCode)
  return class extends Base {
    apiCode = apiCode
    details?: Record<string, unknown>
    retryAfter?: number
    constructor(extras: ApiErrorExtras = {}) {
      super()
      if (extras.message) this.message = extras.message
      if (extras.details) this.details = extras.details
      if (extras.retryAfter !== undefined) this.retryAfter = extras.retryAfter
    }
  } as unknown as ApiErrorClass
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof Error && typeof (error as Partial<ApiError>).apiCode === 'string'
}

// Generic errors of the contract.
export const ValidationFailed = defineError('validation_failed', 400, 'The request does not match the expected schema')
export const InvalidJson = defineError('invalid_json', 400, 'The request body is not valid JSON')
export const PayloadTooLarge = defineError('payload_too_large', 413, 'The request body is too large')
export const UnsupportedMediaType = defineError('unsupported_media_type', 415, 'Send the body as application/json')
export const NotFound = defineError('not_found', 404, 'Not found')
export const RateLimited = defineError('rate_limited', 429, 'Too many requests; slow down')
export const ServiceUnavailable = defineError('service_unavailable', 503, 'The service is temporarily unavailable; try again shortly')
export const Unauthorized = defineError('unauthorized', 401, 'A valid access token is required')
export const Forbidden = defineError('forbidden', 403, 'You do not have permission to do this')
/**
 * A signed-in person whose account is suspended (its Sngine account is banned, deactivated or gone). The contract
 * has no code of its own for this: it is the contract's 403 `forbidden`, with a message that says why and
 * `details.status` for a front end that wants to show its own page.
 */
export const AccountSuspended = defineError('forbidden', 403,
  'This account is suspended: its account on the social network is banned, deactivated or gone. Access returns when that account is in good standing again')
export const OriginNotAllowed = defineError('origin_not_allowed', 403, 'This origin may not make this request')

// Delivery of codes and notices (adapters/mail.ts, adapters/sms.ts).
export const DeliveryFailed = defineError('delivery_failed', 503, 'The email could not be sent right now; try again shortly')
export const SmsDeliveryFailed = defineError('sms_delivery_failed', 503, 'The text message could not be sent right now; try again shortly')
/**
 * The SMS provider refused the number itself (not a valid or reachable mobile number, opted out, region
 * blocked): retrying cannot help, so this is not a 503. It keeps the contract's `invalid_phone` code and
 * status, the one code a client already shows as "this number cannot be used".
 */
export const SmsRejected = defineError('invalid_phone', 400, 'This phone number cannot receive text messages')

/** Connection-level failures of PostgreSQL, MariaDB or Redis: the outside is down, not the request wrong. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR',
  '57P01', '57P02', '57P03', '53300', '57014', '40001', '40P01',
])

export function isUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true
    if (current instanceof Error && /PGlite is closed|Connection terminated|write after end/.test(current.message)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** The first error code along the cause chain (a query error wraps the driver's): what the operator needs, no more. */
export function describeCause(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Logs a failure of work done beside a request (an audit record, an announcement): an outside outage as a
 * warning naming its cause (the request itself reports the outage), anything else as an error with its stack.
 */
export function logSideFailure(log: FastifyBaseLogger, error: unknown, fields: Record<string, unknown>, message: string): void {
  if (isUnavailable(error)) log.warn({ ...fields, cause: describeCause(error) }, message)
  else log.error({ ...fields, err: error }, message)
}
