import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON, VerifiedAuthenticationResponse,
  VerifiedRegistrationResponse,
} from '@simplewebauthn/server'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import type { Database, Executor } from '../../db/client.js'
import type { Device, Session, User, VerificationFlow, WebauthnCredential } from '../../db/schema/index.js'
import type { SngineDirectory } from '../../adapters/sngine/index.js'
import type { Mailer } from '../../adapters/mail.js'
import type { SmsGateway } from '../../adapters/sms.js'
import type { IssuedAccessToken } from '../crypto/tokens.js'
import type { Metrics } from '../../plugins/metrics.js'
import type { Demographics, UserService } from '../users/service.js'
import type { UserView } from '../users/schemas.js'
import { DeviceService, newCountryEvent } from '../devices/service.js'
import type { ClientHints } from '../devices/detect.js'
import type { DeclaredDeviceBody, DeviceView } from '../devices/schemas.js'
import type { AuditSink, DeviceRef, LookupHasher, VerificationFlowService } from './flow-service.js'
import type { SessionService } from './session-service.js'
import * as repo from './passkey-repository.js'
import { normalisePhone } from './phone.js'
import { passkeyAddedMail, passkeyAddedSms } from './messages.js'
import {
  BiometricVerificationFailed, CredentialCloned, CredentialExists, FlowNotFound, PasskeyVerificationFailed, StepsIncomplete,
  UnknownCredential, UserVerificationRequired,
} from './errors.js'
import { logSideFailure } from '../../errors.js'
import {
  claimedChallenge, counterRegressed, LOGIN_CHALLENGE_TTL_MS, newUserId, REGISTRATION_TIMEOUT_MS, SUPPORTED_ALGORITHMS,
  userHandleOf, userIdOfHandle,
} from './webauthn.js'

/**
 * The WebAuthn library with its CBOR and ASN.1 stack costs about 300 ms and 30 MB to load, so it is loaded at
 * the first passkey ceremony rather than at start; requests arriving meanwhile wait for the same load.
 */
let webauthnLibrary: Promise<typeof import('@simplewebauthn/server')> | undefined
const webauthn = () => (webauthnLibrary ??= import('@simplewebauthn/server'))

export interface PasskeyServiceDeps {
  db: Database
  config: Config
  flows: VerificationFlowService
  sngine: SngineDirectory
  hasher: LookupHasher
  users: UserService
  devices: DeviceService
  sessions: SessionService
  mailer: Mailer
  sms: SmsGateway
  log: FastifyBaseLogger
  metrics?: Metrics
  audit?: AuditSink
}

/** Where a request comes from: the device cookie, the address and what the browser says about itself. */
export interface RequestContext {
  device: DeviceRef
  ip: string
  userAgent?: string
  hints?: ClientHints
}

/** A signed-in session, as capture-biometric and passkey/verify answer it. */
export interface SignIn {
  accessToken: IssuedAccessToken
  refreshToken: string
  session: Session
  user: UserView
  device: DeviceView
}

/** The Sngine account behind a flow, as it stands now, with the email and phone the flow proved. */
interface ProvenContact {
  sngineUserId: number
  displayName: string | null
  email: string
  phone: string
  /** What the account says of the person, for a user created now. */
  demographics: Partial<Demographics>
}

/**
 * Step 3 of onboarding (register a platform passkey, then open the first session) and passkey sign-in
 * for returning users. Every challenge is stored, answered at most once and spent by any attempt.
 */
export class PasskeyService {
  private readonly pendingNotices = new Set<Promise<void>>()

  constructor(private readonly deps: PasskeyServiceDeps) {}

  async registrationOptions(input: { flowId: string; device: DeviceRef }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { config, db } = this.deps
    const flow = await this.deps.flows.findFlow(input.flowId, input.device)
    requireStepsDone(flow)
    const contact = await this.provenContact(flow)
    const existing = await this.deps.users.findBySngineId(db, contact.sngineUserId)
    if (existing) this.deps.users.requireActive(existing)
    const offered = existing ? null : await repo.offeredUserHandle(db, flow.id)
    const userId = existing?.id ?? (offered ? userIdOfHandle(offered) : newUserId())
    const excluded = existing ? await repo.usableCredentialsOf(db, existing.id) : []
    const options = await (await webauthn()).generateRegistrationOptions({
      rpName: config.webauthn.rpName,
      rpID: config.webauthn.rpId,
      userID: Buffer.from(userHandleOf(userId), 'base64url'),
      userName: contact.email,
      userDisplayName: contact.displayName ?? contact.email,
      timeout: Math.max(1000, Math.min(REGISTRATION_TIMEOUT_MS, flow.expiresAt.getTime() - Date.now())),
      attestationType: 'none',
      excludeCredentials: excluded.map((credential) => ({
        id: credential.credentialId,
        transports: credential.transports ?? undefined,
      })),
      authenticatorSelection: { authenticatorAttachment: 'platform', residentKey: 'preferred', userVerification: 'required' },
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    })
    await repo.insertChallenge(db, {
      challenge: options.challenge,
      purpose: 'registration',
      flowId: flow.id,
      deviceHash: flow.deviceHash,
      userHandle: options.user.id,
      expiresAt: flow.expiresAt,
    })
    return options
  }

  async register(input: RequestContext & { flowId: string; credential: RegistrationResponseJSON; declared?: DeclaredDeviceBody }): Promise<SignIn> {
    const { config, db } = this.deps
    const flow = await this.deps.flows.findFlow(input.flowId, input.device)
    requireStepsDone(flow)

    // Every outstanding challenge of the flow is spent before the response is looked at.
    const spent = await repo.spendRegistrationChallenges(db, flow.id)
    const claimed = claimedChallenge(input.credential.response.clientDataJSON)
    const challenge = spent.find((row) => row.challenge === claimed && row.expiresAt.getTime() > Date.now())
    if (!challenge || !challenge.userHandle) throw new BiometricVerificationFailed()

    let verification: VerifiedRegistrationResponse
    try {
      // User verification is checked below, so that its absence gets its own answer.
      verification = await (await webauthn()).verifyRegistrationResponse({
        response: input.credential,
        expectedChallenge: challenge.challenge,
        expectedOrigin: config.webauthn.origins,
        expectedRPID: config.webauthn.rpId,
        requireUserPresence: true,
        requireUserVerification: false,
        supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
      })
    } catch (error) {
      this.deps.log.info({ reason: (error as Error).message }, 'passkey registration refused')
      throw new BiometricVerificationFailed()
    }
    if (!verification.verified) throw new BiometricVerificationFailed()
    const info = verification.registrationInfo
    if (!info.userVerified) throw new UserVerificationRequired()
    if (await repo.findCredential(db, info.credential.id)) throw new CredentialExists()

    const contact = await this.provenContact(flow)
    const [sealed, demographics] = await Promise.all([this.deps.users.seal(contact), this.deps.users.sealDemographics(contact.demographics)])
    const issue = await this.deps.sessions.tokenIssuer()
    const { user, device, rebound, newCountry, opened, reply } = await db.transaction(async (tx) => {
      // A suspended user is refused here, and the whole registration with it.
      const user = await this.deps.users.ensureUser(tx, sealed, userIdOfHandle(challenge.userHandle!), { demographics })
      const { device, rebound, newCountry } = await this.deps.devices.recordSighting(tx, {
        userId: user.id,
        cookieHash: input.device.hash,
        ip: input.ip,
        userAgent: input.userAgent,
        hints: input.hints,
        declared: input.declared ?? {},
      })
      const stored = await repo.insertCredential(tx, {
        userId: user.id,
        deviceId: device.id,
        credentialId: info.credential.id,
        userHandle: challenge.userHandle!,
        publicKey: Buffer.from(info.credential.publicKey),
        counter: info.credential.counter,
        transports: info.credential.transports ?? input.credential.response.transports ?? null,
        aaguid: info.aaguid,
        backupEligible: info.credentialDeviceType === 'multiDevice',
        backupState: info.credentialBackedUp,
      })
      if (!stored) throw new CredentialExists()
      if (!(await repo.consumeFlow(tx, flow.id))) throw new FlowNotFound()
      const opened = await this.deps.sessions.open(tx, { userId: user.id, deviceId: device.id, ip: input.ip, userAgent: input.userAgent })
      const loggedIn = await this.deps.users.recordLogin(tx, user.id)
      return { user: loggedIn, device, rebound, newCountry, opened, reply: await this.signIn(loggedIn, device, opened.session, opened.refreshToken, tx, issue) }
    })

    this.deps.metrics?.logins.inc({ method: 'passkey_registration' })
    await this.audit({ type: 'passkey.registered', userId: user.id, ip: input.ip, data: { device: device.id, session: opened.session.id } })
    if (rebound) await this.audit({ type: 'device.rebound', userId: user.id, ip: input.ip, data: { device: device.id, session: opened.session.id } })
    if (newCountry) await this.audit(newCountryEvent({ userId: user.id, deviceId: device.id, country: newCountry, ip: input.ip, via: 'registration' }))
    this.notifyPasskeyAdded(contact, device)
    return reply
  }

  async authenticationOptions(input: { device: DeviceRef }): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await (await webauthn()).generateAuthenticationOptions({
      rpID: this.deps.config.webauthn.rpId,
      userVerification: 'required',
      timeout: LOGIN_CHALLENGE_TTL_MS,
    })
    await repo.insertChallenge(this.deps.db, {
      challenge: options.challenge,
      purpose: 'authentication',
      deviceHash: input.device.hash,
      expiresAt: new Date(Date.now() + LOGIN_CHALLENGE_TTL_MS),
    })
    return options
  }

  async authenticate(input: RequestContext & { credential: AuthenticationResponseJSON }): Promise<SignIn> {
    const { config, db } = this.deps
    const claimed = claimedChallenge(input.credential.response.clientDataJSON)
    const challenge = claimed ? await repo.spendAuthenticationChallenge(db, claimed, input.device.hash) : undefined
    if (!challenge) throw new PasskeyVerificationFailed()

    const credential = await repo.findCredential(db, input.credential.id)
    if (!credential || credential.disabledAt) throw new UnknownCredential()
    const userHandle = input.credential.response.userHandle
    if (userHandle && userHandle !== credential.userHandle) throw new PasskeyVerificationFailed()

    let verification: VerifiedAuthenticationResponse
    try {
      // simplewebauthn compares the counter before it checks the signature, which would make any forged
      // assertion with a low counter look like a clone. So the library checks everything but the counter
      // (stored counter given as 0), and the counter is compared below, once the signature is known good.
      verification = await (await webauthn()).verifyAuthenticationResponse({
        response: input.credential,
        expectedChallenge: challenge.challenge,
        expectedOrigin: config.webauthn.origins,
        expectedRPID: config.webauthn.rpId,
        credential: {
          id: credential.credentialId,
          publicKey: new Uint8Array(credential.publicKey),
          counter: 0,
          transports: credential.transports ?? undefined,
        },
        requireUserVerification: false,
      })
    } catch (error) {
      this.deps.log.info({ reason: (error as Error).message, credential: credential.id }, 'passkey sign-in refused')
      throw new PasskeyVerificationFailed()
    }
    if (!verification.verified) throw new PasskeyVerificationFailed()
    const info = verification.authenticationInfo
    if (!info.userVerified) throw new PasskeyVerificationFailed({ message: 'The authenticator did not verify you (fingerprint, face or device PIN)' })
    // Backup eligibility is fixed when a credential is made; one that changes is not the credential we registered.
    if ((info.credentialDeviceType === 'multiDevice') !== credential.backupEligible) throw new PasskeyVerificationFailed()
    if (counterRegressed(info.newCounter, credential.counter)) await this.credentialCloned(credential, input.ip)
    if (!(await repo.recordCredentialUse(db, credential.id, info.newCounter, info.credentialBackedUp))) {
      // Another sign-in moved the counter past this one meanwhile, or the credential was disabled.
      const now = await repo.findCredential(db, credential.credentialId)
      if (!now || now.disabledAt) throw new UnknownCredential()
      await this.credentialCloned(credential, input.ip)
    }

    const found = await this.deps.users.findById(db, credential.userId)
    if (!found) throw new UnknownCredential()
    // Checked again by recordLogin below, under the row's lock, against a suspension meanwhile.
    this.deps.users.requireActive(found)
    // What the reply needs from outside the database is loaded before the transaction (the signing key here,
    // the user's field key by this first view), so that making the reply inside it uses no second connection.
    const issue = await this.deps.sessions.tokenIssuer()
    await this.deps.users.view(found, [])
    const { user, device, newCountry, opened, reply } = await db.transaction(async (tx) => {
      const { device, newCountry } = await this.deps.devices.recordSighting(tx, {
        userId: found.id,
        cookieHash: input.device.hash,
        ip: input.ip,
        userAgent: input.userAgent,
        hints: input.hints,
      })
      const opened = await this.deps.sessions.open(tx, { userId: found.id, deviceId: device.id, ip: input.ip, userAgent: input.userAgent })
      const user = await this.deps.users.recordLogin(tx, found.id)
      return { user, device, newCountry, opened, reply: await this.signIn(user, device, opened.session, opened.refreshToken, tx, issue) }
    })
    this.deps.metrics?.logins.inc({ method: 'passkey' })
    await this.audit({ type: 'passkey.login', userId: user.id, ip: input.ip, data: { device: device.id, session: opened.session.id } })
    if (newCountry) await this.audit(newCountryEvent({ userId: user.id, deviceId: device.id, country: newCountry, ip: input.ip, via: 'passkey_login' }))
    return reply
  }

  /** Waits for notices still being delivered (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pendingNotices])
  }

  /**
   * The signature is good but the counter went backwards (or lost a race to a higher one): two copies
   * of the key are in use. The credential is disabled; its owner sets the device up again.
   */
  private async credentialCloned(credential: WebauthnCredential, ip: string): Promise<never> {
    await repo.disableCredential(this.deps.db, credential.id, 'cloned')
    this.deps.log.warn({ credential: credential.id, userId: credential.userId, ip }, 'passkey counter went backwards: credential disabled')
    await this.audit({ type: 'passkey.cloned', userId: credential.userId, ip, data: { credential: credential.id } })
    throw new CredentialCloned()
  }

  /**
   * The sign-in reply, made inside the transaction that opened the session (`tx`) before it commits: a failure
   * after the commit would leave a consumed flow or a new session behind a 503.
   */
  private async signIn(user: User, device: Device, session: Session, refreshToken: string, tx: Executor,
    issue: (session: Session, tx: Executor, roles?: readonly string[]) => Promise<IssuedAccessToken>): Promise<SignIn> {
    // The roles go into both the token and the reply: read once.
    const [roles, deviceView] = await Promise.all([
      this.deps.users.rolesOf(tx, user.id),
      this.deps.devices.view(tx, device, true),
    ])
    const [accessToken, userView] = await Promise.all([issue(session, tx, roles), this.deps.users.view(user, roles)])
    return { accessToken, refreshToken, session, user: userView, device: deviceView }
  }

  /**
   * The account behind the flow, read again from Sngine: it must still be active, and its email and
   * phone must still be the ones the flow proved (an account edited since proves nothing).
   */
  private async provenContact(flow: VerificationFlow): Promise<ProvenContact> {
    const { config, hasher } = this.deps
    const account = flow.sngineUserId === null ? null : await this.deps.sngine.findById(flow.sngineUserId)
    if (!account || !account.activated || account.banned) throw new FlowNotFound()
    const email = account.email.trim().toLowerCase()
    const phone = account.phone ? normalisePhone(account.phone, config.sms.defaultRegion) : null
    if (!hasher.lookupHashMatches(email, 'flows.email', flow.emailHmac)
      || !phone || !flow.phoneHmac || !hasher.lookupHashMatches(phone.e164, 'flows.phone', flow.phoneHmac)) {
      throw new FlowNotFound()
    }
    const name = [account.firstName, account.lastName].map((part) => part?.trim()).filter(Boolean).join(' ')
    return {
      sngineUserId: account.id,
      displayName: name || null,
      email,
      phone: phone.e164,
      demographics: this.deps.users.demographicsFromSngine(account),
    }
  }

  /** "A passkey was added on <device>", to the account's email and phone; a failure is logged, never fatal. */
  private notifyPasskeyAdded(contact: ProvenContact, device: Device): void {
    const name = DeviceService.describe(device)
    const at = new Date()
    const deliveries: Promise<void>[] = [
      this.deps.mailer.send({ to: contact.email, ...passkeyAddedMail({ device: name, at }) })
        .catch((error: unknown) => this.deps.log.warn({ err: error, channel: 'email' }, 'passkey notice not delivered')),
    ]
    if (this.deps.sms.canSendMessages) {
      deliveries.push(this.deps.sms.sendMessage(contact.phone, passkeyAddedSms({ device: name }))
        .catch((error: unknown) => this.deps.log.warn({ err: error, channel: 'sms' }, 'passkey notice not delivered')))
    }
    const pending = Promise.all(deliveries).then(() => undefined)
    this.pendingNotices.add(pending)
    void pending.finally(() => this.pendingNotices.delete(pending))
  }

  private async audit(event: Parameters<AuditSink>[0]) {
    if (!this.deps.audit) return
    try {
      await this.deps.audit(event)
    } catch (error) {
      logSideFailure(this.deps.log, error, { auditType: event.type }, 'audit event not recorded')
    }
  }
}

function requireStepsDone(flow: VerificationFlow): void {
  if (!flow.emailVerifiedAt || !flow.phoneVerifiedAt || flow.decoy) throw new StepsIncomplete()
}
