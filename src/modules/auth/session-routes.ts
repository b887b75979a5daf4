import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Config } from '../../config.js'
import { AccountSuspended, isApiError, NotFound } from '../../errors.js'
import { withErrors } from '../../schemas.js'
import type { SessionService } from './session-service.js'
import { AccessTokenReply } from './passkey-schemas.js'
import { clearRefreshCookie, readRefreshCookie, requireAllowedOrigin, setRefreshCookie } from './cookies.js'

/** Cookie-authenticated token routes under `/api/auth`: refresh and logout. */
export async function tokenRoutes(fastify: FastifyInstance, opts: { sessions: SessionService; config: Config }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { sessions, config } = opts
  const checkOrigin = requireAllowedOrigin(config)

  app.post('/auth/refresh-token', {
    onRequest: checkOrigin,
    schema: {
      tags: ['auth'],
      summary: 'Trade the vt_refresh cookie for an access token and a new cookie',
      response: withErrors({ 200: AccessTokenReply }, 401, 403),
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    try {
      const renewed = await sessions.refresh(readRefreshCookie(request), request.ip)
      setRefreshCookie(reply, config, renewed.refreshToken, renewed.session.expiresAt)
      return { accessToken: renewed.accessToken.token, tokenType: renewed.accessToken.tokenType, expiresIn: renewed.accessToken.expiresIn }
    } catch (error) {
      // A refresh token that cannot be used again is of no use to keep (nor is a suspended user's: the
      // suspension ended its session).
      if (isApiError(error) && (error.statusCode === 401 || error instanceof AccountSuspended)) clearRefreshCookie(reply, config)
      throw error
    }
  })

  app.post('/auth/logout', {
    onRequest: [checkOrigin, fastify.authenticateOptional],
    schema: {
      tags: ['auth'],
      summary: 'End this session (the vt_refresh cookie\'s, or the access token\'s) and clear the cookie',
      response: withErrors({ 204: Type.Null() }, 403),
    },
  }, async (request, reply) => {
    const ended = await sessions.endByRefreshToken(readRefreshCookie(request))
    if (!ended && request.auth) await sessions.revokeSession(request.auth.sessionId, 'logout', request.auth.userId)
    clearRefreshCookie(reply, config)
    return reply.code(204).send()
  })
}

const SessionIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false })
const ScopeQuery = Type.Object({
  scope: Type.Literal('others', { description: 'End every session of mine but this one' }),
}, { additionalProperties: false })

/** `/api/sessions`: my sessions, behind the access token. */
export async function sessionRoutes(fastify: FastifyInstance, opts: { sessions: SessionService; config: Config }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { sessions, config } = opts

  app.get('/sessions', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['auth'],
      summary: 'My live sessions; current marks the one making this request',
      security: [{ bearer: [] }],
      response: withErrors({ 200: Type.Array(Type.Ref('Session')) }, 401),
    },
  }, async (request) => {
    const auth = request.auth!
    return (await sessions.listLive(auth.userId)).map((session) => sessions.view(session, auth.sessionId))
  })

  app.delete('/sessions/:id', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['auth'],
      summary: 'End one of my sessions',
      security: [{ bearer: [] }],
      params: SessionIdParams,
      response: withErrors({ 204: Type.Null() }, 401, 404),
    },
  }, async (request, reply) => {
    const auth = request.auth!
    const ended = await sessions.revokeSession(request.params.id, 'session_deleted', auth.userId)
    if (!ended) throw new NotFound({ message: 'No such session' })
    if (request.params.id === auth.sessionId) clearRefreshCookie(reply, config)
    return reply.code(204).send()
  })

  app.delete('/sessions', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['auth'],
      summary: 'End every other session of mine',
      security: [{ bearer: [] }],
      querystring: ScopeQuery,
      response: withErrors({ 204: Type.Null() }, 401),
    },
  }, async (request, reply) => {
    const auth = request.auth!
    await sessions.revokeUserSessions(auth.userId, 'signed_out_elsewhere', { exceptSessionId: auth.sessionId })
    return reply.code(204).send()
  })
}
