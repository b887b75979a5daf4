import type { Database } from '../../db/client.js'
import type { AccessTokenClaims } from '../crypto/tokens.js'
import type { UserService } from '../users/service.js'
import type { UserView } from '../users/schemas.js'
import type { DeviceService } from '../devices/service.js'
import type { DeviceView } from '../devices/schemas.js'
import type { SessionService, SessionView } from './session-service.js'
import { findSignedInStatus } from './session-repository.js'

export interface SignedInStatus {
  authenticated: true
  user: UserView
  session: SessionView
  device: DeviceView
}

export interface StatusDeps {
  db: Database
  users: Pick<UserService, 'view'>
  devices: Pick<DeviceService, 'viewOf'>
  sessions: Pick<SessionService, 'view'>
}

/**
 * Who a verified access token speaks for, read fresh: a session that has ended or a user or device that
 * is gone since the token was signed makes it "not signed in" rather than an error. One statement: the
 * session, its user and device, the roles and the passkey are read together.
 */
export async function signedInStatus(deps: StatusDeps, claims: AccessTokenClaims): Promise<SignedInStatus | null> {
  const row = await findSignedInStatus(deps.db, claims.sessionId, claims.userId)
  if (!row) return null
  return {
    authenticated: true,
    user: await deps.users.view(row.user, row.roles),
    session: deps.sessions.view(row.session, row.session.id),
    device: deps.devices.viewOf(row.device, true, row.hasPasskey),
  }
}
