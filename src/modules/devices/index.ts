import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { DeviceManagement } from './management.js'
import { deviceRoutes, publicDeviceRoutes } from './routes.js'

export interface DevicesModuleOptions {
  config: Config
}

/** The devices module: detection, compatibility, and (with sessions and passkeys) the signed-in user's devices. */
export default async function devicesModule(fastify: FastifyInstance, opts: DevicesModuleOptions) {
  const management = new DeviceManagement({
    db: fastify.db,
    devices: fastify.devices,
    sessions: fastify.sessions,
    passkeys: fastify.passkeys,
    audit: fastify.audit,
  })
  await fastify.register(publicDeviceRoutes)
  await fastify.register(deviceRoutes, { management, config: opts.config })
}
