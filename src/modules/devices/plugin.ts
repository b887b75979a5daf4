import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { openGeoip, defaultGeoipPath, type Geoip } from '../../adapters/geoip.js'
import { DeviceService } from './service.js'
import { DeviceView } from './schemas.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Users' devices: recorded at every sign-in, shown as the contract's `Device`. */
    devices: DeviceService
  }
}

/**
 * The database is read once per file and process (a few MB, immutable): every app built in this
 * process, tests included, shares it instead of reading it again.
 */
const opened = new Map<string, Promise<Geoip>>()

function geoipFor(path: string): Promise<Geoip> {
  let geoip = opened.get(path)
  if (!geoip) {
    geoip = openGeoip(path)
    opened.set(path, geoip)
    geoip.catch(() => opened.delete(path))
  }
  return geoip
}

/** The devices module's shared service, registered before the modules that call it. */
async function deviceServices(fastify: FastifyInstance, opts: { config: Config }) {
  const geoip = await geoipFor(opts.config.geoipDbPath ?? defaultGeoipPath())
  fastify.addSchema(DeviceView)
  fastify.decorate('devices', new DeviceService(geoip, fastify.crypto))
}

export default fp(deviceServices, { name: 'devices', fastify: '5.x', dependencies: ['db', 'crypto'] })
