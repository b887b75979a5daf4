import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Config } from '../../config.js'
import { withErrors } from '../../schemas.js'
import { readDeviceCookie } from '../../plugins/device-cookie.js'
import { clearRefreshCookie } from '../auth/cookies.js'
import { ACCEPT_CH, detectDevice, hintsFromHeaders } from './detect.js'
import { checkCompatibility } from './compatibility.js'
import type { DeviceManagement, Requester } from './management.js'
import { DeclaredDeviceBody, DeviceIdParams, DeviceUpdateBody } from './schemas.js'

const DeviceKind = Type.Union(['desktop', 'laptop', 'tablet', 'mobile', 'unknown'].map((t) => Type.Literal(t)))

export const CompatibilityBody = Type.Object({
  userAgent: Type.Optional(Type.String({ maxLength: 1024, description: 'Defaults to the request\'s own User-Agent' })),
  platformAuthenticator: Type.Boolean({ description: 'PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()' }),
  formFactor: Type.Optional(Type.Union(['desktop', 'laptop', 'tablet', 'mobile'].map((t) => Type.Literal(t)))),
}, { additionalProperties: false })

export const CompatibilityReply = Type.Object({
  compatible: Type.Boolean(),
  device: Type.Object({ type: DeviceKind, os: Type.Union([Type.String(), Type.Null()]), browser: Type.Union([Type.String(), Type.Null()]) }),
  reasons: Type.Array(Type.String()),
})

/** Routes of the devices module that need no session. */
export async function publicDeviceRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.post('/devices/compatibility', {
    schema: {
      tags: ['devices'],
      summary: 'Can this device finish the passkey step?',
      body: CompatibilityBody,
      response: withErrors({ 200: CompatibilityReply }),
    },
  }, async (request, reply) => {
    // Later requests from this browser then carry the high-entropy hints (platform version, model).
    reply.header('accept-ch', ACCEPT_CH)
    const { userAgent, platformAuthenticator, formFactor } = request.body
    const device = detectDevice({
      userAgent: userAgent ?? request.headers['user-agent'],
      hints: userAgent === undefined ? hintsFromHeaders(request.headers) : undefined,
      declared: formFactor ? { formFactor } : undefined,
    })
    const { compatible, reasons } = checkCompatibility(device, platformAuthenticator)
    return { compatible, device: { type: device.type, os: device.os, browser: device.browser }, reasons }
  })
}

function requester(request: FastifyRequest): Requester {
  const auth = request.auth!
  // The register route sets a cookie where there was none; the others only read the one sent.
  const cookie = request.deviceCookie ?? readDeviceCookie(request)
  return { userId: auth.userId, sessionId: auth.sessionId, cookieHash: cookie?.hash ?? null, ip: request.ip }
}

const deviceRef = Type.Ref('Device')

/** `/api/devices`: the signed-in user's devices, behind the access token. Thin: DeviceManagement decides. */
export async function deviceRoutes(fastify: FastifyInstance, opts: { management: DeviceManagement; config: Config }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { management, config } = opts

  app.post('/devices/register', {
    // The guard first: a refused request gets no cookie.
    onRequest: [fastify.authenticate, fastify.ensureDeviceCookie],
    schema: {
      tags: ['devices'],
      summary: 'Record this device (the vt_device cookie\'s; one is set if missing): 201 when new, 200 when known',
      description: 'A browser that lost its cookie but sends the fingerprint of one of my devices is that device, moved to the new cookie.',
      security: [{ bearer: [] }],
      body: DeclaredDeviceBody,
      response: withErrors({ 200: deviceRef, 201: deviceRef }, 401),
    },
  }, async (request, reply) => {
    reply.header('accept-ch', ACCEPT_CH)
    const userAgent = request.headers['user-agent']
    const { device, created } = await management.register({
      ...requester(request),
      cookieHash: request.deviceCookie!.hash,
      userAgent: typeof userAgent === 'string' ? userAgent : undefined,
      hints: hintsFromHeaders(request.headers),
      declared: request.body ?? {},
    })
    return reply.code(created ? 201 : 200).send(device)
  })

  app.get('/devices/list', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['devices'],
      summary: 'My devices (removed ones left out), most recently seen first; current marks this one',
      security: [{ bearer: [] }],
      response: withErrors({ 200: Type.Array(deviceRef) }, 401),
    },
  }, async (request) => management.list(requester(request)))

  app.put('/devices/update', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['devices'],
      summary: 'Rename or (un)trust one of my devices',
      security: [{ bearer: [] }],
      body: DeviceUpdateBody,
      response: withErrors({ 200: deviceRef }, 401, 404),
    },
  }, async (request) => management.update(requester(request), request.body))

  app.delete('/devices/:id', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['devices'],
      summary: 'Remove one of my devices: its sessions end and its passkeys stop working',
      security: [{ bearer: [] }],
      params: DeviceIdParams,
      response: withErrors({ 204: Type.Null() }, 401, 404),
    },
  }, async (request, reply) => {
    const { endedCurrentSession } = await management.remove(requester(request), request.params.id)
    if (endedCurrentSession) clearRefreshCookie(reply, config)
    return reply.code(204).send()
  })
}
