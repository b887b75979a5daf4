import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withErrors } from '../../schemas.js'
import { ValidationFailed } from '../../errors.js'
import type { DeviceCookie } from '../../plugins/device-cookie.js'
import type { VerificationFlowService } from './flow-service.js'
import type { SignedInStatus } from './status.js'
import { FlowStatus, SendOtpBody, SendOtpReply, StatusQuery, VerifyOtpBody, VerifyOtpReply } from './schemas.js'

const device = (request: FastifyRequest): DeviceCookie => request.deviceCookie!

export interface OtpRoutesOptions {
  flows: VerificationFlowService
  /** Who a verified access token speaks for, or null when its session, user or device is gone. */
  signedIn: (request: FastifyRequest) => Promise<SignedInStatus | null>
}

/** Steps 1 and 2 of onboarding and the status. Thin: the services decide. */
export async function otpRoutes(fastify: FastifyInstance, opts: OtpRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { flows, signedIn } = opts

  app.post('/auth/send-otp', {
    schema: {
      tags: ['auth'],
      summary: 'Send a one-time code: step 1 by email, step 2 by SMS',
      body: SendOtpBody,
      response: withErrors({ 202: SendOtpReply }, 403, 404, 409, 422),
    },
  }, async (request, reply) => {
    const { channel, email, phone, flowId } = request.body
    const result = channel === 'email'
      ? await flows.sendEmailCode({ email: required(email, 'email'), flowId, device: device(request), ip: request.ip })
      : await flows.sendSmsCode({ flowId: required(flowId, 'flowId'), phone: required(phone, 'phone'), device: device(request), ip: request.ip })
    return reply.code(202).send(result)
  })

  app.post('/auth/verify-otp', {
    schema: {
      tags: ['auth'],
      summary: 'Check a one-time code',
      body: VerifyOtpBody,
      response: withErrors({ 200: VerifyOtpReply }, 403, 404, 409, 410),
    },
  }, async (request) => {
    const progress = await flows.verifyCode({ ...request.body, device: device(request), ip: request.ip })
    return { flowId: progress.flowId, verified: progress.verified, next: progress.next }
  })

  // The Bearer token, if any, says who is asking; the refresh cookie is deliberately not read here.
  app.get('/auth/status', {
    onRequest: fastify.authenticateOptional,
    schema: {
      tags: ['auth'],
      summary: 'Who am I (Bearer token optional), and how far is my onboarding flow',
      security: [{}, { bearer: [] }],
      querystring: StatusQuery,
      response: withErrors({
        200: Type.Object({
          authenticated: Type.Boolean(),
          user: Type.Optional(Type.Ref('User')),
          session: Type.Optional(Type.Ref('Session')),
          device: Type.Optional(Type.Ref('Device')),
          flow: Type.Optional(FlowStatus),
        }),
      }, 403, 404),
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const flowId = request.query.flowId
    const [status, progress] = await Promise.all([
      request.auth ? signedIn(request) : null,
      flowId ? flows.progress(flowId, device(request)) : null,
    ])
    return {
      ...(status ?? { authenticated: false }),
      ...(progress ? { flow: { verified: progress.verified, next: progress.next, expiresAt: progress.expiresAt.toISOString() } } : {}),
    }
  })
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new ValidationFailed({ message: `body.${field} is required for this channel`, details: { field: `body.${field}`, rule: 'required' } })
  return value
}
