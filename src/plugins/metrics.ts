import fp from 'fastify-plugin'
import { timingSafeEqual } from 'node:crypto'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { Unauthorized } from '../errors.js'

/** What modules count; the names are the Prometheus series. */
export class Metrics {
  readonly registry = new Registry()
  readonly requestDuration = new Histogram({
    name: 'vottery_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })
  readonly otpSent = new Counter({ name: 'vottery_otp_sent_total', help: 'One-time codes handed to a provider', labelNames: ['channel'] as const, registers: [this.registry] })
  readonly otpFailed = new Counter({ name: 'vottery_otp_send_failed_total', help: 'One-time codes a provider did not take', labelNames: ['channel'] as const, registers: [this.registry] })
  readonly verifications = new Counter({ name: 'vottery_otp_verifications_total', help: 'Code verifications by outcome', labelNames: ['channel', 'outcome'] as const, registers: [this.registry] })
  readonly logins = new Counter({ name: 'vottery_logins_total', help: 'Sessions opened, by method', labelNames: ['method'] as const, registers: [this.registry] })
  readonly refreshReuse = new Counter({ name: 'vottery_refresh_token_reuse_total', help: 'Rotated refresh tokens presented again (sessions revoked)', registers: [this.registry] })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vottery_' })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Prometheus text at `/metrics`, behind `METRICS_TOKEN` when set; latency of every routed request. */
async function metricsPlugin(fastify: FastifyInstance, opts: { config: Config }) {
  const metrics = new Metrics()
  fastify.decorate('metrics', metrics)
  fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.requestDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  const token = opts.config.metricsToken ? Buffer.from(`Bearer ${opts.config.metricsToken}`) : null
  fastify.get('/metrics', {
    schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false, response: { 200: { type: 'string' } } },
    config: { rateLimit: false },
  }, async (request, reply) => {
    if (token) {
      const given = Buffer.from(request.headers.authorization ?? '')
      if (given.length !== token.length || !timingSafeEqual(given, token)) throw new Unauthorized()
    }
    reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' })
