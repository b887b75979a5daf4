import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import { ServiceUnavailable } from '../errors.js'

const RETRY_AFTER_SECONDS = 5

/** When the event loop lags or the heap is past its limit, shed load with 503 `service_unavailable`. */
async function pressurePlugin(fastify: FastifyInstance, opts: { config: Config }) {
  const { maxEventLoopDelayMs, maxHeapBytes } = opts.config.pressure
  await fastify.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    maxHeapUsedBytes: maxHeapBytes,
    retryAfter: RETRY_AFTER_SECONDS,
    pressureHandler: (request, _reply, type) => {
      request.log.warn({ pressure: type }, 'shedding load')
      throw new ServiceUnavailable({ retryAfter: RETRY_AFTER_SECONDS, message: 'The service is busy; try again shortly' })
    },
  })
}

export default fp(pressurePlugin, { name: 'pressure', fastify: '5.x' })
