import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import type { Config } from '../../config.js'
import { withErrors } from '../../schemas.js'
import { hintsFromHeaders } from '../devices/detect.js'
import type { PasskeyService, RequestContext, SignIn } from './passkey-service.js'
import {
  BiometricOptionsBody, CaptureBiometricBody, CreationOptions, PasskeyOptionsBody, PasskeyVerifyBody, RequestOptions, SignInReply,
} from './passkey-schemas.js'
import { setRefreshCookie } from './cookies.js'
import { sessionExpiry } from './session-service.js'

export function requestContext(request: FastifyRequest): RequestContext {
  const userAgent = request.headers['user-agent']
  return {
    device: request.deviceCookie!,
    ip: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent : undefined,
    hints: hintsFromHeaders(request.headers),
  }
}

function signInReply(reply: FastifyReply, config: Config, signIn: SignIn) {
  setRefreshCookie(reply, config, signIn.refreshToken, signIn.session.expiresAt)
  reply.header('cache-control', 'no-store')
  return {
    accessToken: signIn.accessToken.token,
    tokenType: signIn.accessToken.tokenType,
    expiresIn: signIn.accessToken.expiresIn,
    user: signIn.user,
    device: signIn.device,
    session: { id: signIn.session.id, expiresAt: sessionExpiry(signIn.session).toISOString() },
  }
}

/** Step 3 of onboarding and passkey sign-in. Thin: the passkey service decides. */
export async function passkeyRoutes(fastify: FastifyInstance, opts: { passkeys: PasskeyService; config: Config }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { passkeys, config } = opts

  app.post('/auth/biometric/options', {
    schema: {
      tags: ['auth'],
      summary: 'Step 3: options to register this device\'s platform authenticator (passkey)',
      body: BiometricOptionsBody,
      response: withErrors({ 200: CreationOptions }, 403, 404, 409),
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    return passkeys.registrationOptions({ flowId: request.body.flowId, device: request.deviceCookie! })
  })

  app.post('/auth/capture-biometric', {
    schema: {
      tags: ['auth'],
      summary: 'Step 3: register the passkey, record the device and open the first session',
      body: CaptureBiometricBody,
      response: withErrors({ 201: SignInReply }, 403, 404, 409),
    },
  }, async (request, reply) => {
    const signIn = await passkeys.register({
      ...requestContext(request),
      flowId: request.body.flowId,
      credential: request.body.credential as RegistrationResponseJSON,
      declared: request.body.device,
    })
    return reply.code(201).send(signInReply(reply, config, signIn))
  })

  app.post('/auth/passkey/options', {
    schema: {
      tags: ['auth'],
      summary: 'Sign in with a passkey: options for startAuthentication() (discoverable credentials)',
      body: PasskeyOptionsBody,
      response: withErrors({ 200: RequestOptions }),
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    return passkeys.authenticationOptions({ device: request.deviceCookie! })
  })

  app.post('/auth/passkey/verify', {
    schema: {
      tags: ['auth'],
      summary: 'Sign in with a passkey: check the assertion and open a session',
      body: PasskeyVerifyBody,
      response: withErrors({ 200: SignInReply }, 401, 403),
    },
  }, async (request, reply) => {
    const signIn = await passkeys.authenticate({ ...requestContext(request), credential: request.body.credential as AuthenticationResponseJSON })
    return signInReply(reply, config, signIn)
  })
}
