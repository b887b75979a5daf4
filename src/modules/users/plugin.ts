import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { parseGenderMap, UserService } from './service.js'
import { UserView } from './schemas.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Vottery users linked to Sngine accounts: creation at onboarding, profiles, roles, the masked `User` view. */
    users: UserService
  }
}

/** The users module's shared service, registered before the modules that call it. */
async function userServices(fastify: FastifyInstance, opts: { config: Config }) {
  fastify.addSchema(UserView)
  fastify.decorate('users', new UserService({
    db: fastify.db,
    fields: fastify.crypto,
    audit: (event) => fastify.audit.record(event),
    genderMap: parseGenderMap(opts.config.sngine.genderMap),
  }))
}

export default fp(userServices, { name: 'users', fastify: '5.x', dependencies: ['db', 'crypto', 'audit'] })
