import type { Database } from '../../db/client.js'
import type { Device } from '../../db/schema/index.js'
import { NotFound, Unauthorized } from '../../errors.js'
import type { AuditLog } from '../../plugins/audit.js'
import type { SessionService } from '../auth/session-service.js'
import type { PasskeyCredentials } from '../auth/credentials.js'
import type { ClientHints } from './detect.js'
import { newCountryEvent, type CurrentDevice, type DeviceService } from './service.js'
import * as repo from './repository.js'
import type { DeclaredDeviceBody, DeviceView } from './schemas.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface DeviceManagementDeps {
  db: Database
  devices: DeviceService
  sessions: Pick<SessionService, 'findLive' | 'revokeDeviceSessions' | 'announceRevocations'>
  passkeys: Pick<PasskeyCredentials, 'disableForDevice'>
  audit: Pick<AuditLog, 'record'>
}

/** Who asks, from where: the access token's user and session, the `vt_device` cookie, the address. */
export interface Requester {
  userId: string
  sessionId: string
  /** SHA-256 of the `vt_device` cookie, when the request carried one. */
  cookieHash: string | null
  ip: string
}

export interface DeviceRegistration extends Requester {
  cookieHash: string
  userAgent?: string
  hints?: ClientHints
  declared: DeclaredDeviceBody
}

/**
 * The signed-in user's own devices: register this one, list, rename or trust, remove. Another user's
 * device, a removed one and an id that is not one are all the same 404: whether a device exists is
 * nobody else's business.
 */
export class DeviceManagement {
  constructor(private readonly deps: DeviceManagementDeps) {}

  /** Records this request's device (its cookie's): created, re-bound by fingerprint, or refreshed. */
  async register(input: DeviceRegistration): Promise<{ device: DeviceView; created: boolean }> {
    const { db, devices, audit } = this.deps
    // The devices table points at users: a token whose session (and so user) is gone records nothing.
    const session = await this.deps.sessions.findLive(input.sessionId)
    if (!session || session.userId !== input.userId) throw new Unauthorized({ message: 'This session has ended; sign in again' })
    const { device, created } = await db.transaction(async (tx) => {
      const known = await devices.findByCookie(tx, input.userId, input.cookieHash)
      const sighting = await devices.recordSighting(tx, {
        userId: input.userId,
        cookieHash: input.cookieHash,
        ip: input.ip,
        userAgent: input.userAgent,
        hints: input.hints,
        declared: input.declared,
      })
      // A removed device that comes back is, for its owner, a new one.
      const created = (!known || known.revokedAt !== null) && !sighting.rebound
      const { device } = sighting
      const data = { device: device.id, session: input.sessionId }
      // Audit events last: each holds the log's append lock until the transaction commits.
      if (created) await audit.record({ type: 'device.registered', userId: input.userId, actor: input.userId, ip: input.ip, data }, tx)
      if (sighting.rebound) await audit.record({ type: 'device.rebound', userId: input.userId, actor: input.userId, ip: input.ip, data }, tx)
      if (sighting.newCountry) {
        await audit.record(newCountryEvent({ userId: input.userId, deviceId: device.id, country: sighting.newCountry, ip: input.ip, via: 'device_register' }), tx)
      }
      return { device, created }
    })
    return { device: await devices.view(db, device, true), created }
  }

  async list(requester: Requester): Promise<DeviceView[]> {
    const { db, devices } = this.deps
    const [rows, current] = await Promise.all([repo.liveDevicesOf(db, requester.userId), this.currentOf(requester)])
    return devices.views(db, rows, current)
  }

  /** Renames or (un)trusts one of the user's devices. */
  async update(requester: Requester, changes: { deviceId: string; name?: string; trusted?: boolean }): Promise<DeviceView> {
    const { db, audit } = this.deps
    if (!UUID.test(changes.deviceId)) throw notFound()
    const settings = {
      ...(changes.name !== undefined ? { name: changes.name.trim() } : {}),
      ...(changes.trusted !== undefined ? { trusted: changes.trusted } : {}),
    }
    const fields = Object.keys(settings).sort()
    const device = await db.transaction(async (tx) => {
      const device = fields.length > 0
        ? await repo.updateDeviceSettings(tx, requester.userId, changes.deviceId, settings)
        : await repo.findLiveDevice(tx, requester.userId, changes.deviceId)
      if (!device) throw notFound()
      if (fields.length > 0) {
        await audit.record({
          type: 'device.updated',
          userId: requester.userId,
          actor: requester.userId,
          ip: requester.ip,
          data: { device: device.id, fields: fields.join(','), ...(settings.trusted !== undefined ? { trusted: settings.trusted } : {}) },
        }, tx)
      }
      return device
    })
    return this.viewFor(requester, device)
  }

  /**
   * Removes one of the user's devices: in one transaction the device is marked removed, every session
   * opened on it ends and every passkey registered on it is disabled. The ended sessions are announced
   * (their access tokens refused everywhere) once that has committed. Says whether the requester's own
   * session was among them.
   */
  async remove(requester: Requester, deviceId: string): Promise<{ endedCurrentSession: boolean }> {
    const { db, sessions, passkeys, audit } = this.deps
    if (!UUID.test(deviceId)) throw notFound()
    const removed = await db.transaction(async (tx) => {
      const device = await repo.markDeviceRemoved(tx, requester.userId, deviceId)
      if (!device) return null
      const sessionIds = await sessions.revokeDeviceSessions(device.id, 'device_removed', tx)
      const disabled = await passkeys.disableForDevice(device.id, 'device_removed', tx)
      await audit.record({
        type: 'device.removed',
        userId: requester.userId,
        actor: requester.userId,
        ip: requester.ip,
        data: { device: device.id, sessions: sessionIds.length, passkeys: disabled },
      }, tx)
      return { sessionIds }
    })
    if (!removed) throw notFound()
    await sessions.announceRevocations(removed.sessionIds, 'device_removed')
    return { endedCurrentSession: removed.sessionIds.includes(requester.sessionId) }
  }

  private async viewFor(requester: Requester, device: Device): Promise<DeviceView> {
    const [view] = await this.deps.devices.views(this.deps.db, [device], await this.currentOf(requester))
    return view!
  }

  /** The request's own device: its cookie's, or without a cookie the device its session was opened on. */
  private async currentOf(requester: Requester): Promise<CurrentDevice> {
    if (requester.cookieHash !== null) return { cookieHash: requester.cookieHash, sessionDeviceId: null }
    const session = await this.deps.sessions.findLive(requester.sessionId)
    return { cookieHash: null, sessionDeviceId: session && session.userId === requester.userId ? session.deviceId : null }
  }
}

const notFound = () => new NotFound({ message: 'No such device' })
