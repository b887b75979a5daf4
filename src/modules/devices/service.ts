import type { Executor } from '../../db/client.js'
import { describeCause } from '../../errors.js'
import type { Device } from '../../db/schema/index.js'
import type { Geoip } from '../../adapters/geoip.js'
import type { AuditEventInput } from '../users/audit.js'
import { detectDevice, type ClientHints } from './detect.js'
import * as repo from './repository.js'
import type { DeclaredDeviceBody, DeviceView } from './schemas.js'

export interface DeviceSightingInput {
  userId: string
  /** SHA-256 of the `vt_device` cookie. */
  cookieHash: string
  ip: string
  userAgent?: string
  hints?: ClientHints
  /** What the client declared (onboarding's `device` body); absent on a passkey sign-in. */
  declared?: DeclaredDeviceBody
}

export interface FingerprintHasher {
  lookupHash(value: string, context: string): string
}

/** What recording a sighting did. */
export interface Sighting {
  device: Device
  /** An existing device of the user, recognised by its fingerprint, moved to this request's cookie. */
  rebound: boolean
  /**
   * The country (ISO 3166-1 alpha-2) when the user had never been seen there, but had been seen elsewhere:
   * worth an audit event (`newCountryEvent`). The first country a user is ever seen in is not news.
   */
  newCountry: string | null
}

/** How a device came to be seen in a new country, as the audit event tells it. */
export type SightingKind = 'registration' | 'passkey_login' | 'refresh' | 'device_register'

const USER_AGENT_MAX = 512

/** The audit event for a sign-in (or refresh) from a country new to the user: the country code, nothing finer. */
export function newCountryEvent(input: { userId: string; deviceId: string; country: string; ip: string; via: SightingKind }): AuditEventInput {
  return { type: 'device.new_country', userId: input.userId, ip: input.ip, data: { device: input.deviceId, country: input.country, via: input.via } }
}

/**
 * Re-binds by fingerprint inside a savepoint. A concurrent sighting from the same browser that has just
 * created the device for this cookie (and was not yet committed when the re-bind looked) makes the move
 * collide on the (user, cookie) index; then that device is this browser's, there is nothing to re-bind, and
 * the caller's upsert refreshes it, instead of the collision aborting the caller's whole transaction.
 */
async function rebindUnlessTaken(tx: Executor, sighting: Parameters<typeof repo.rebindByFingerprint>[1]): Promise<Device | undefined> {
  try {
    return await tx.transaction((savepoint) => repo.rebindByFingerprint(savepoint, sighting))
  } catch (error) {
    if (describeCause(error) === UNIQUE_VIOLATION) return undefined
    throw error
  }
}

/** PostgreSQL's SQLSTATE for a duplicate key. */
const UNIQUE_VIOLATION = '23505'

/**
 * What other modules call as `fastify.devices`: the record of a user's devices, one per `vt_device`
 * cookie, with what the server derives from the request (type, OS, browser, address, location) and,
 * beside it, what the client declared.
 */
export class DeviceService {
  constructor(private readonly geoip: Geoip, private readonly hasher: FingerprintHasher) {}

  /**
   * Records a sign-in from a device (new or known) inside the caller's transaction. A browser without a
   * device for its cookie that declares the fingerprint of one of the user's devices is that device
   * (re-bound to the new cookie) rather than a second one.
   */
  async recordSighting(tx: Executor, input: DeviceSightingInput): Promise<Sighting> {
    const declared = input.declared
    const detected = detectDevice({
      userAgent: input.userAgent,
      hints: input.hints,
      declared: declared ? { formFactor: declared.formFactor, platformAuthenticator: declared.platformAuthenticator, name: declared.name } : undefined,
    })
    const location = this.geoip.lookup(input.ip)
    const derivedName = detected.browser && detected.os ? `${detected.browser} on ${detected.os}` : detected.browser ?? detected.os
    const fingerprintHash = declared?.fingerprint ? this.fingerprintHash(declared.fingerprint) : null
    const sighting: repo.DeviceSighting = {
      userId: input.userId,
      cookieHash: input.cookieHash,
      type: detected.type,
      os: detected.os,
      osVersion: detected.osVersion,
      browser: detected.browser,
      browserVersion: detected.browserVersion,
      userAgent: input.userAgent ? input.userAgent.slice(0, USER_AGENT_MAX) : null,
      lastIp: input.ip,
      country: location?.country ?? null,
      region: location?.region ?? null,
      city: location?.city ?? null,
      defaultName: derivedName,
      declared: declared ? {
        name: declared.name?.trim() || null,
        fingerprintHash,
        fields: {
          ...(declared.name !== undefined ? { name: declared.name } : {}),
          ...(declared.formFactor !== undefined ? { formFactor: declared.formFactor } : {}),
          ...(declared.platformAuthenticator !== undefined ? { platformAuthenticator: declared.platformAuthenticator } : {}),
        },
      } : undefined,
    }
    const rebound = fingerprintHash && sighting.declared
      ? await rebindUnlessTaken(tx, { ...sighting, declared: { ...sighting.declared, fingerprintHash } })
      : undefined
    const device = rebound ?? await repo.upsertDevice(tx, sighting)
    const noted = device.country ? await repo.noteCountry(tx, device.userId, device.country) : null
    return { device, rebound: rebound !== undefined, newCountry: noted?.isNew && noted.seenElsewhere ? device.country : null }
  }

  /**
   * A session's device on a refresh: last address, time and location, in one statement (beside the refresh's
   * own). Returns the country when it is new to the user (see `Sighting.newCountry`).
   */
  async recordRefresh(db: Executor, input: { userId: string; deviceId: string; ip: string }): Promise<string | null> {
    const location = this.geoip.lookup(input.ip)
    const noted = await repo.touchDevice(db, {
      userId: input.userId,
      deviceId: input.deviceId,
      ip: input.ip,
      country: location?.country ?? null,
      region: location?.region ?? null,
      city: location?.city ?? null,
    })
    return noted.isNew && noted.seenElsewhere ? location!.country : null
  }

  /** The keyed hash a fingerprint is kept as; the fingerprint itself is never stored. */
  fingerprintHash(fingerprint: string): string {
    return this.hasher.lookupHash(fingerprint, 'devices.fingerprint')
  }

  findByCookie(db: Executor, userId: string, cookieHash: string): Promise<Device | undefined> {
    return repo.findDeviceByCookie(db, userId, cookieHash)
  }

  /**
   * The contract's `Device` for each row. `current` names the device the request comes from: by its
   * `vt_device` cookie when it sent one, else by the device its session was opened on.
   */
  async views(db: Executor, devices: Device[], current: CurrentDevice): Promise<DeviceView[]> {
    const withPasskey = await repo.devicesWithPasskey(db, devices.map((device) => device.id))
    return devices.map((device) => toView(device, isCurrent(device, current), withPasskey.has(device.id)))
  }

  async view(db: Executor, device: Device, current: boolean): Promise<DeviceView> {
    const withPasskey = await repo.devicesWithPasskey(db, [device.id])
    return toView(device, current, withPasskey.has(device.id))
  }

  /** The contract's `Device` for a row read elsewhere, when whether it holds a usable passkey is known. */
  viewOf(device: Device, current: boolean, hasPasskey: boolean): DeviceView {
    return toView(device, current, hasPasskey)
  }

  /** How notices and logs name the device: what the person called it, else browser and OS. */
  static describe(device: Device): string {
    return device.name ?? ([device.browser, device.os].filter(Boolean).join(' on ') || 'an unknown device')
  }
}

/** How a request names its own device: the cookie's hash, else its session's device. */
export interface CurrentDevice {
  cookieHash: string | null
  sessionDeviceId: string | null
}

export function isCurrent(device: Device, current: CurrentDevice): boolean {
  return current.cookieHash !== null ? device.cookieHash === current.cookieHash : device.id === current.sessionDeviceId
}

function toView(device: Device, current: boolean, hasPasskey: boolean): DeviceView {
  const type = device.type as DeviceView['type']
  return {
    id: device.id,
    name: device.name,
    type: ['desktop', 'laptop', 'tablet', 'mobile'].includes(type) ? type : 'unknown',
    os: device.os,
    osVersion: device.osVersion,
    browser: device.browser,
    browserVersion: device.browserVersion,
    ip: device.lastIp,
    ...(device.country ? {
      location: {
        country: device.country,
        ...(device.region ? { region: device.region } : {}),
        ...(device.city ? { city: device.city } : {}),
      },
    } : {}),
    firstSeenAt: device.firstSeenAt.toISOString(),
    lastSeenAt: device.lastSeenAt.toISOString(),
    current,
    hasPasskey,
    trusted: device.trusted,
  }
}
