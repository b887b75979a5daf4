import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { usersRoutes } from './routes.js'

export interface UsersModuleOptions {
  config: Config
}

/** The users module: profile, demographics, activity, and the admin routes. Its service is `fastify.users` (plugin.ts). */
export default async function usersModule(fastify: FastifyInstance, _opts: UsersModuleOptions) {
  await fastify.register(usersRoutes, { users: fastify.users })
}
