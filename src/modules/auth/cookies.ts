import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'
import { OriginNotAllowed } from '../../errors.js'

export const REFRESH_COOKIE = 'vt_refresh'
/** The refresh token goes only to the routes that use it. */
export const REFRESH_COOKIE_PATH = '/api/auth'

export function setRefreshCookie(reply: FastifyReply, config: Config, token: string, sessionEndsAt: Date): void {
  reply.setCookie(REFRESH_COOKIE, token, {
    path: REFRESH_COOKIE_PATH,
    httpOnly: true,
    secure: config.cookie.secure,
    sameSite: config.cookie.sameSite,
    // The browser may drop it when the session could no longer be refreshed anyway.
    maxAge: Math.max(1, Math.floor((sessionEndsAt.getTime() - Date.now()) / 1000)),
  })
}

export function clearRefreshCookie(reply: FastifyReply, config: Config): void {
  reply.clearCookie(REFRESH_COOKIE, {
    path: REFRESH_COOKIE_PATH,
    httpOnly: true,
    secure: config.cookie.secure,
    sameSite: config.cookie.sameSite,
  })
}

export function readRefreshCookie(request: FastifyRequest): string | null {
  return request.cookies?.[REFRESH_COOKIE] ?? null
}

/**
 * onRequest hook of the routes a cookie authenticates: a cross-site page can make the browser send the
 * cookie, but cannot forge `Origin`. No `Origin` at all is refused too (browsers always send it on POST).
 */
export function requireAllowedOrigin(config: Config) {
  const allowed = new Set(config.corsOrigins)
  return async (request: FastifyRequest) => {
    const origin = request.headers.origin
    if (typeof origin !== 'string' || !allowed.has(origin)) throw new OriginNotAllowed()
  }
}
