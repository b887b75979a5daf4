import type { LoggerOptions } from 'pino'
import type { Config } from './config.js'

/**
 * Secrets, codes, tokens, emails and phone numbers never reach the log: headers that carry them
 * and fields named after them are censored wherever they appear (two levels deep).
 */
const SENSITIVE_FIELDS = ['email', 'phone', 'otp', 'otpCode', 'token', 'accessToken', 'refreshToken', 'password', 'secret', 'masterKey']

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...SENSITIVE_FIELDS,
  ...SENSITIVE_FIELDS.map((f) => `*.${f}`),
  ...SENSITIVE_FIELDS.map((f) => `*.*.${f}`),
  'code',
  'body.code',
]

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  routeOptions?: { url?: string }
}

const QUERY_KEY = /^[A-Za-z0-9_.-]{1,40}$/

/**
 * A request as logged: the route it matched rather than the URL it came with, since a path or a query string
 * carries whatever the client put there (a flow id in `?flowId=`, an email typed into a path), and only the
 * names of its query parameters.
 */
export function requestForLog(request: LoggedRequest) {
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : ''
  const keys = [...new Set(new URLSearchParams(query).keys())].map((key) => (QUERY_KEY.test(key) ? key : '?'))
  return {
    method: request.method,
    url: `${request.routeOptions?.url ?? '(no route)'}${keys.length > 0 ? `?${keys.join('&')}` : ''}`,
    host: request.host,
    remoteAddress: request.ip,
  }
}

/** Serializers of every logger of the service (Fastify takes them from the pino instance it is given). */
export const LOG_SERIALIZERS = { req: requestForLog }

export function loggerOptions(config: Config): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: LOG_SERIALIZERS,
  }
}
