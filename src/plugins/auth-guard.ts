import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Forbidden, isApiError, Unauthorized } from '../errors.js'
import type { AccessTokenClaims } from '../modules/crypto/tokens.js'

export type Role = 'voter' | 'auditor' | 'admin'
export type GuardHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest/preHandler hook: a valid, unrevoked access token, else 401 `unauthorized`. Sets `request.auth`. */
    authenticate: GuardHook
    /** Like `authenticate`, then 403 `forbidden` unless the token carries one of `roles`. */
    requireRole(...roles: Role[]): GuardHook
    /** Sets `request.auth` when a valid token is present, and lets the request through either way. */
    authenticateOptional: GuardHook
  }
  interface FastifyRequest {
    /** The verified access token's claims, once a guard has run; null otherwise. */
    auth: AccessTokenClaims | null
  }
}

const BEARER = /^Bearer +([A-Za-z0-9_.~+/-]+=*) *$/i

function bearerToken(request: FastifyRequest): string | null | undefined {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  return BEARER.exec(header)?.[1] ?? null
}

/**
 * The shared access guard. Routes declare it as a hook:
 *   `{ onRequest: fastify.authenticate }` or `{ onRequest: fastify.requireRole('admin') }`.
 * Running at onRequest, a refused request is answered before its body is read or validated.
 */
async function authGuard(fastify: FastifyInstance) {
  fastify.decorateRequest('auth', null)

  const authenticate: GuardHook = async (request, reply) => {
    const token = bearerToken(request)
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer')
      throw new Unauthorized()
    }
    if (token === null) {
      reply.header('www-authenticate', 'Bearer error="invalid_request"')
      throw new Unauthorized({ message: 'Send the access token as Authorization: Bearer <token>' })
    }
    try {
      request.auth = await fastify.tokens.verifyAccessToken(token)
    } catch (error) {
      if (isApiError(error) && error.statusCode === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"')
      throw error
    }
  }

  fastify.decorate('authenticate', authenticate)

  fastify.decorate('requireRole', (...roles: Role[]): GuardHook => {
    if (roles.length === 0) throw new Error('requireRole needs at least one role')
    return async (request, reply) => {
      if (!request.auth) await authenticate(request, reply)
      if (!roles.some((role) => request.auth!.roles.includes(role))) throw new Forbidden()
    }
  })

  fastify.decorate('authenticateOptional', async (request: FastifyRequest) => {
    const token = bearerToken(request)
    if (!token) return
    request.auth = await fastify.tokens.verifyAccessToken(token).catch(() => null)
  })
}

export default fp(authGuard, { name: 'auth-guard', fastify: '5.x', dependencies: ['crypto'] })
