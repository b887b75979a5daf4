import type { Database, Executor } from '../../db/client.js'
import * as repo from './passkey-repository.js'

/**
 * What other modules call as `fastify.passkeys`: taking passkeys out of use. A disabled passkey signs
 * nobody in (401 `unknown_credential`); its row stays, so the same credential cannot be registered again.
 */
export class PasskeyCredentials {
  constructor(private readonly db: Database) {}

  /**
   * Every passkey registered on a device (the devices module, when a device is removed), in the caller's
   * transaction when given one. Returns how many.
   */
  disableForDevice(deviceId: string, reason = 'device_removed', tx?: Executor): Promise<number> {
    return repo.disableDeviceCredentials(tx ?? this.db, deviceId, reason)
  }

  /** Every passkey of a user (an account closed or blocked). Returns how many. */
  disableForUser(userId: string, reason: string): Promise<number> {
    return repo.disableUserCredentials(this.db, userId, reason)
  }
}
