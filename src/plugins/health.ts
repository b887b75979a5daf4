import fp from 'fastify-plugin'
import { Type } from 'typebox'
import type { FastifyInstance } from 'fastify'

const Health = Type.Object({ status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]) })
// A 503 may also come from load shedding, with the ordinary error body.
const Unavailable = Type.Union([Health, Type.Ref('ErrorBody')])

/** Liveness (the process answers) and readiness (database reachable, migrations applied). */
async function healthPlugin(fastify: FastifyInstance) {
  const common = { tags: ['operations'], response: { 200: Health, 503: Unavailable } }
  // Liveness answers even under load shedding: a busy process is not a dead one.
  fastify.get('/health/live', { schema: { ...common, summary: 'The process is up' }, config: { rateLimit: false, pressureHandler: () => undefined } },
    async () => ({ status: 'ok' as const }))
  fastify.get('/health/ready', { schema: { ...common, summary: 'Database reachable and migrated' }, config: { rateLimit: false } },
    async (_request, reply) => {
      const ready = await fastify.database.ready()
      if (!ready) reply.header('retry-after', '5')
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable' })
    })
}

export default fp(healthPlugin, { name: 'health', fastify: '5.x', dependencies: ['db', 'openapi'] })
