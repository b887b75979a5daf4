import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'

export const DEVICE_COOKIE = 'vt_device'
const DEVICE_COOKIE_MAX_AGE = 400 * 24 * 60 * 60
const DEVICE_ID = /^[A-Za-z0-9_-]{43}$/

export interface DeviceCookie {
  /** The opaque id the browser holds. Never stored or logged. */
  id: string
  /** SHA-256 of the id (base64url): what the database keeps. */
  hash: string
  /** True when this request set it. */
  fresh: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** "This device": the `vt_device` cookie, present on every `/api/auth` request. */
    deviceCookie: DeviceCookie | null
  }
  interface FastifyInstance {
    /** onRequest hook that gives the request a `vt_device` cookie, setting one on first contact. */
    ensureDeviceCookie: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export function hashDeviceId(id: string): string {
  return createHash('sha256').update(id).digest('base64url')
}

/** The device cookie the request carries, if well-formed. */
export function readDeviceCookie(request: FastifyRequest): DeviceCookie | null {
  const id = request.cookies?.[DEVICE_COOKIE]
  return id && DEVICE_ID.test(id) ? { id, hash: hashDeviceId(id), fresh: false } : null
}

async function deviceCookiePlugin(fastify: FastifyInstance, opts: { config: Config }) {
  fastify.decorateRequest('deviceCookie', null)
  fastify.decorate('ensureDeviceCookie', async (request: FastifyRequest, reply: FastifyReply) => {
    const existing = readDeviceCookie(request)
    if (existing) {
      request.deviceCookie = existing
      return
    }
    const id = randomBytes(32).toString('base64url')
    request.deviceCookie = { id, hash: hashDeviceId(id), fresh: true }
    reply.setCookie(DEVICE_COOKIE, id, {
      path: '/',
      httpOnly: true,
      secure: opts.config.cookie.secure,
      sameSite: opts.config.cookie.sameSite,
      maxAge: DEVICE_COOKIE_MAX_AGE,
    })
  })
}

export default fp(deviceCookiePlugin, { name: 'device-cookie', fastify: '5.x', dependencies: ['security'] })
