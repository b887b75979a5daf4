import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../config.js'
import { RateLimited } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Shared Redis connection when `REDIS_URL` is set (rate limits across instances). */
    redis: Redis | null
  }
}

/** General per-IP limit (`RATE_LIMIT_PER_MINUTE`), kept in Redis when `REDIS_URL` is set so instances share it. */
async function rateLimitPlugin(fastify: FastifyInstance, opts: { config: Config; redis?: Redis | null }) {
  let redis: Redis | null = opts.redis ?? null
  if (!redis && opts.config.redisUrl) {
    const { Redis: RedisClient } = await import('ioredis')
    redis = new RedisClient(opts.config.redisUrl, {
      connectTimeout: 2000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    })
    redis.on('error', (err) => fastify.log.warn({ err: { message: err.message } }, 'redis error'))
    await redis.connect().catch((err: Error) => fastify.log.warn({ err: { message: err.message } }, 'redis not reachable at start; rate limits fall back per request'))
    const owned = redis
    fastify.addHook('onClose', async () => { owned.disconnect() })
  }
  fastify.decorate('redis', redis)
  await fastify.register(rateLimit, {
    global: true,
    max: opts.config.rateLimitPerMinute,
    timeWindow: 60_000,
    nameSpace: 'vottery:rl:',
    ...(redis ? { redis } : {}),
    // A Redis outage must not close the door: the limit is skipped, not the request.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new RateLimited({ retryAfter: Math.ceil(context.ttl / 1000) }),
  })
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x' })
