import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import {
  describeCause, InvalidJson, isApiError, isUnavailable, NotFound, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType, ValidationFailed,
  type ApiError,
} from '../errors.js'

/** Maps any error to an API error; unknown ones become a bare 500 whose details stay in the log. */
export function toApiError(error: FastifyError | Error): ApiError | null {
  if (isApiError(error)) return error
  const fe = error as FastifyError
  if (fe.validation) {
    const first = fe.validation[0]
    const field = first
      ? `${fe.validationContext ?? 'body'}${first.instancePath.replace(/\//g, '.')}${
        (first.params as { additionalProperty?: string; missingProperty?: string }).additionalProperty
          ? '.' + (first.params as { additionalProperty: string }).additionalProperty
          : (first.params as { missingProperty?: string }).missingProperty
            ? '.' + (first.params as { missingProperty: string }).missingProperty
            : ''}`
      : fe.validationContext ?? 'body'
    const reason = first?.keyword === 'additionalProperties' ? 'is not allowed' : first?.message ?? 'is invalid'
    return new ValidationFailed({ message: `${field} ${reason}`, details: { field, rule: first?.keyword ?? 'schema' } })
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidJson()
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLarge()
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new UnsupportedMediaType()
    case 'FST_ERR_NOT_FOUND':
      return new NotFound()
  }
  if (error instanceof SyntaxError && fe.statusCode === 400) return new InvalidJson()
  if (isUnavailable(error)) return new ServiceUnavailable({ retryAfter: 5 })
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const status = fe.statusCode
    const code = (STATUS_CODES[status] ?? 'bad_request').toLowerCase().replace(/[^a-z]+/g, '_')
    return Object.assign(new Error(fe.message), { statusCode: status, code, apiCode: code }) as ApiError
  }
  return null
}

export function sendError(reply: FastifyReply, apiError: ApiError | null): FastifyReply {
  const statusCode = apiError?.statusCode ?? 500
  if (apiError?.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(apiError.retryAfter))))
  return reply.code(statusCode).type('application/json').send({
    statusCode,
    code: apiError?.apiCode ?? 'internal_error',
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: apiError?.message ?? 'Something went wrong on our side; it has been logged',
    ...(apiError?.details ? { details: apiError.details } : {}),
  })
}

async function errorsPlugin(fastify: FastifyInstance) {
  fastify.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(error)
    const status = apiError?.statusCode ?? 500
    // Unexpected failures are errors; a known 503 (database, provider, load) is an outside condition.
    if (!apiError || status === 500) request.log.error({ err: error }, 'request failed')
    else if (status >= 500) request.log.warn({ errorCode: apiError.apiCode, status, cause: describeCause(error) }, 'request unavailable')
    else request.log.info({ errorCode: apiError.apiCode, status }, 'request refused')
    return sendError(reply, apiError)
  })
  // Probing unknown paths spends the same per-IP budget as anything else.
  const preHandler = fastify.hasDecorator('rateLimit') ? fastify.rateLimit() : undefined
  fastify.setNotFoundHandler({ preHandler }, (_request, reply) => sendError(reply, new NotFound()))
}

export default fp(errorsPlugin, { name: 'errors', fastify: '5.x', dependencies: ['rate-limit'] })
