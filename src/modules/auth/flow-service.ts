import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import type { Database } from '../../db/client.js'
import type { OtpCode, VerificationFlow } from '../../db/schema/index.js'
import type { SngineAccount, SngineDirectory } from '../../adapters/sngine/index.js'
import type { Mailer } from '../../adapters/mail.js'
import type { SmsGateway } from '../../adapters/sms.js'
import { DeliveryFailed, logSideFailure } from '../../errors.js'
import type { Metrics } from '../../plugins/metrics.js'
import * as repo from './flow-repository.js'
import type { Channel } from './flow-repository.js'
import { otpMail, otpSms, unknownAccountMail } from './messages.js'
import { maskEmail, maskPhone } from './mask.js'
import { normalisePhone } from './phone.js'
import {
  AlreadyVerified, CodeExpired, EmailNotVerified, FlowDeviceMismatch, FlowNotFound, InvalidCode, InvalidPhone,
  NoActiveCode, OtpResendTooSoon, OtpSendLimit, PhoneCountryNotAllowed, PhoneMismatch, PhoneNotOnRecord, TooManyAttempts,
} from './errors.js'

type NewVerificationFlow = Parameters<typeof repo.insertFlow>[1]

/** Wrong codes a single code survives, and a whole flow. */
export const CODE_ATTEMPTS = 5
export const FLOW_ATTEMPTS = 10

export interface LookupHasher {
  lookupHash(value: string, context: string): string
  lookupHashMatches(value: string, context: string, expected: string): boolean
}

export interface AuditSink {
  (event: { type: string; userId?: string | null; ip?: string | null; data?: Record<string, string | number | boolean | null> }): Promise<unknown>
}

export interface FlowServiceDeps {
  db: Database
  config: Config
  sngine: SngineDirectory
  hasher: LookupHasher
  mailer: Mailer
  sms: SmsGateway
  log: FastifyBaseLogger
  metrics?: Metrics
  audit?: AuditSink
}

export interface DeviceRef {
  hash: string
}

export interface SendResult {
  flowId: string
  channel: Channel
  destination: string
  expiresInSeconds: number
  resendAfterSeconds: number
}

export interface FlowProgress {
  flowId: string
  verified: { email: boolean; phone: boolean }
  next: 'email' | 'sms' | 'biometric'
  expiresAt: Date
}

export function hashFlowId(flowId: string): string {
  return createHash('sha256').update(flowId).digest('base64url')
}

export function flowProgress(flowId: string, flow: VerificationFlow): FlowProgress {
  const email = flow.emailVerifiedAt !== null
  const phone = flow.phoneVerifiedAt !== null
  return { flowId, verified: { email, phone }, next: !email ? 'email' : !phone ? 'sms' : 'biometric', expiresAt: flow.expiresAt }
}

/**
 * Remembers how long real mail deliveries take, so that a decoy (unknown, inactive or banned account)
 * answers after a delay drawn from the same distribution: the response time must not tell them apart.
 */
class DeliveryTimings {
  private readonly samples: number[] = []
  private lastFailureAt = 0
  private lastSuccessAt = 0

  record(ms: number) {
    this.samples.push(ms)
    if (this.samples.length > 64) this.samples.shift()
    this.lastSuccessAt = Date.now()
  }

  failed() {
    this.lastFailureAt = Date.now()
  }

  /** While real deliveries are failing, decoys fail the same way. */
  get failing(): boolean {
    return this.lastFailureAt > this.lastSuccessAt && Date.now() - this.lastFailureAt < 60_000
  }

  sample(): number {
    if (this.samples.length === 0) return 20 + randomInt(30)
    return this.samples[randomInt(this.samples.length)]!
  }
}

/**
 * Steps 1 and 2 of onboarding: a device-bound verification flow in which a person proves they hold the
 * email, then the phone, of their Sngine account. Codes are stored only as keyed HMACs; every counter
 * is moved by a conditional update in the database, so concurrency cannot beat the caps.
 */
export class VerificationFlowService {
  private readonly mailTimings = new DeliveryTimings()

  constructor(private readonly deps: FlowServiceDeps) {}

  async sendEmailCode(input: { email: string; flowId?: string; device: DeviceRef; ip: string }): Promise<SendResult> {
    const { config, hasher } = this.deps
    const email = input.email.trim().toLowerCase()
    const emailHmac = hasher.lookupHash(email, 'flows.email')
    const account = await this.deps.sngine.findByEmail(email)
    const eligible = account !== null && account.activated && !account.banned

    // The same flow continues when the client names it (a resend); otherwise, or for another address, a new one starts.
    let existing: VerificationFlow | undefined
    let flowId = input.flowId
    if (flowId) {
      const named = await this.findFlow(flowId, input.device)
      if (named.emailHmac === emailHmac) existing = named
    }
    if (existing?.emailVerifiedAt) throw new AlreadyVerified()
    // A new flow is written with its first code, in the same transaction: a send that is refused or that
    // fails leaves no flow behind (nobody would ever hold its id).
    if (!existing) flowId = randomBytes(32).toString('base64url')
    const target = existing ? { existing } : {
      create: {
        flowHash: hashFlowId(flowId!),
        deviceHash: input.device.hash,
        sngineUserId: eligible ? account!.id : null,
        decoy: !eligible,
        emailHmac,
        ip: input.ip,
        expiresAt: new Date(Date.now() + config.otp.flowTtl * 1000),
      },
    }

    const code = generateCode()
    const { flow, pending } = await this.reserveSend(target, 'email', emailHmac, input.ip, code)
    const started = performance.now()
    try {
      if (!flow.decoy) {
        await this.deps.mailer.send({ to: account!.email, ...otpMail({ code, ttlSeconds: config.otp.ttl }) })
        this.mailTimings.record(performance.now() - started)
      } else {
        await this.decoyDelivery(email, account)
      }
    } catch (error) {
      if (!flow.decoy) this.mailTimings.failed()
      if (existing) await repo.deleteCode(this.deps.db, pending.id)
      else await repo.deleteFlow(this.deps.db, flow.id)
      await this.audit('otp.send_failed', flow, input.ip, { channel: 'email' })
      throw error
    }
    await repo.markCodeSent(this.deps.db, pending)
    await this.audit('otp.sent', flow, input.ip, { channel: 'email', decoy: flow.decoy })
    return {
      flowId: flowId!,
      channel: 'email',
      destination: maskEmail(email),
      expiresInSeconds: config.otp.ttl,
      resendAfterSeconds: config.otp.resendCooldown,
    }
  }

  async sendSmsCode(input: { flowId: string; phone: string; device: DeviceRef; ip: string }): Promise<SendResult> {
    const { config, hasher } = this.deps
    const flow = await this.findFlow(input.flowId, input.device)
    if (!flow.emailVerifiedAt || flow.decoy || flow.sngineUserId === null) throw new EmailNotVerified()
    if (flow.phoneVerifiedAt) throw new AlreadyVerified()
    const given = normalisePhone(input.phone, config.sms.defaultRegion)
    if (!given) throw new InvalidPhone()
    const account = await this.deps.sngine.findById(flow.sngineUserId)
    if (!account || !account.activated || account.banned) throw new FlowNotFound()
    const onRecord = account.phone ? normalisePhone(account.phone, config.sms.defaultRegion) : null
    if (!onRecord) throw new PhoneNotOnRecord()
    if (onRecord.e164 !== given.e164) throw new PhoneMismatch()
    // Checked before any provider is called: the allow-list is the guard against SMS pumping.
    const allowed = config.sms.allowedCountries
    if (allowed.length > 0 && (!given.country || !allowed.includes(given.country))) throw new PhoneCountryNotAllowed()

    const phoneHmac = hasher.lookupHash(given.e164, 'flows.phone')
    const code = this.deps.sms.mode === 'verify' ? null : generateCode()
    const { pending } = await this.reserveSend({ existing: flow }, 'sms', phoneHmac, input.ip, code)
    try {
      if (code === null) await this.deps.sms.startVerification(given.e164)
      else await this.deps.sms.sendMessage(given.e164, otpSms({ code, ttlSeconds: config.otp.ttl, webOtpHost: config.webauthn.rpId }))
    } catch (error) {
      await repo.deleteCode(this.deps.db, pending.id)
      await this.audit('otp.send_failed', flow, input.ip, { channel: 'sms' })
      throw error
    }
    await repo.markCodeSent(this.deps.db, pending)
    await this.audit('otp.sent', flow, input.ip, { channel: 'sms', decoy: false })
    return {
      flowId: input.flowId,
      channel: 'sms',
      destination: maskPhone(given.e164),
      expiresInSeconds: config.otp.ttl,
      resendAfterSeconds: config.otp.resendCooldown,
    }
  }

  async verifyCode(input: { flowId: string; channel: Channel; code: string; device: DeviceRef; ip: string }): Promise<FlowProgress> {
    const flow = await this.findFlow(input.flowId, input.device)
    if (flow.failedAttempts >= FLOW_ATTEMPTS) throw new TooManyAttempts({ message: 'Too many wrong codes; start again' })
    if (input.channel === 'sms' && !flow.emailVerifiedAt) throw new EmailNotVerified()
    if ((input.channel === 'email' ? flow.emailVerifiedAt : flow.phoneVerifiedAt) !== null) throw new AlreadyVerified()
    const code = await repo.activeCode(this.deps.db, flow.id, input.channel)
    if (!code || code.usedAt) throw new NoActiveCode()
    if (code.failedAttempts >= CODE_ATTEMPTS) throw new TooManyAttempts({ message: 'Too many wrong codes; ask for a new one' })
    if (code.expiresAt.getTime() <= Date.now()) throw new CodeExpired()

    const matches = await this.codeMatches(flow, code, input.code)
    if (matches) {
      const phoneHmac = input.channel === 'sms' ? code.destinationHmac : null
      const updated = await repo.consumeCode(this.deps.db, code, flow, CODE_ATTEMPTS, phoneHmac)
      if (updated) {
        await this.audit('otp.verified', flow, input.ip, { channel: input.channel })
        return flowProgress(input.flowId, updated)
      }
      // Another request used this code a moment ago: for this one it is spent.
      throw new NoActiveCode({ message: 'That code was just used' })
    }
    const counts = await repo.recordFailure(this.deps.db, code.id, flow.id, CODE_ATTEMPTS, FLOW_ATTEMPTS)
    await this.audit('otp.failed', flow, input.ip, { channel: input.channel })
    if (!counts) throw new TooManyAttempts()
    const attemptsLeft = Math.max(0, Math.min(CODE_ATTEMPTS - counts.codeFailures, FLOW_ATTEMPTS - counts.flowFailures))
    throw new InvalidCode({ details: { attemptsLeft } })
  }

  /** The flow a client names, checked against the device that asks: unknown, expired and used flows are all "not found". */
  async findFlow(flowId: string, device: DeviceRef): Promise<VerificationFlow> {
    const flow = await repo.findFlowByHash(this.deps.db, hashFlowId(flowId))
    if (!flow || flow.consumedAt || flow.expiresAt.getTime() <= Date.now()) throw new FlowNotFound()
    if (flow.deviceHash !== device.hash) throw new FlowDeviceMismatch()
    return flow
  }

  async progress(flowId: string, device: DeviceRef): Promise<FlowProgress> {
    return flowProgress(flowId, await this.findFlow(flowId, device))
  }

  private async codeMatches(flow: VerificationFlow, code: OtpCode, given: string): Promise<boolean> {
    if (flow.decoy) return false
    if (code.codeHmac === null) {
      // Twilio Verify made this code and checks it; we only count the tries.
      const account = flow.sngineUserId === null ? null : await this.deps.sngine.findById(flow.sngineUserId)
      const phone = account?.phone ? normalisePhone(account.phone, this.deps.config.sms.defaultRegion) : null
      if (!phone) return false
      return (await this.deps.sms.checkVerification(phone.e164, given)) === 'approved'
    }
    return this.deps.hasher.lookupHashMatches(`${code.id}:${given}`, 'otp.code', code.codeHmac)
  }

  /**
   * Checks the cooldown and the hourly caps and records the send, all under locks on the destination and
   * the address, before anything leaves: a burst of parallel requests cannot slip past a cap.
   */
  private async reserveSend(target: { existing: VerificationFlow } | { create: NewVerificationFlow }, channel: Channel, destinationHmac: string,
    ip: string, code: string | null): Promise<{ flow: VerificationFlow; pending: OtpCode }> {
    const { config, hasher } = this.deps
    return this.deps.db.transaction(async (tx) => {
      await repo.lockSendKeys(tx, destinationHmac, ip)
      const previous = 'existing' in target ? await repo.latestCode(tx, target.existing.id, channel) : undefined
      if (previous) {
        const since = (Date.now() - previous.createdAt.getTime()) / 1000
        // A send in progress holds off another, but not for ever: one "in progress" for longer than any delivery
        // can take was abandoned (the database went away before its outcome could be written) and blocks no more.
        const wait = Math.max(config.otp.resendCooldown, previous.sentAt === null ? abandonedSendSeconds(config) : 0) - since
        if (wait > 0) throw new OtpResendTooSoon({ retryAfter: Math.max(1, Math.ceil(wait)) })
      }
      const counts = await repo.countRecentSends(tx, destinationHmac, ip)
      const hour = 3600_000
      if (counts.destination >= config.otp.sendsPerDestinationPerHour) {
        throw new OtpSendLimit({ retryAfter: retryAfterWindow(counts.oldestDestinationAt, hour) })
      }
      if (counts.ip >= config.otp.sendsPerIpPerHour) {
        throw new OtpSendLimit({ retryAfter: retryAfterWindow(counts.oldestIpAt, hour) })
      }
      const flow = 'existing' in target ? target.existing : await repo.insertFlow(tx, target.create)
      const id = randomUUID()
      // A decoy's code is random too, and is never compared: it can never verify.
      const secret = code ?? (flow.decoy ? generateCode() : null)
      const pending = await repo.insertCode(tx, {
        id,
        flowId: flow.id,
        channel,
        codeHmac: secret === null ? null : hasher.lookupHash(`${id}:${secret}`, 'otp.code'),
        destinationHmac,
        ip,
        expiresAt: new Date(Math.min(Date.now() + config.otp.ttl * 1000, flow.expiresAt.getTime())),
      })
      return { flow, pending }
    })
  }

  /** What a decoy does instead of mailing a code: the optional sign-up notice, or a delay like a real delivery. */
  private async decoyDelivery(email: string, account: SngineAccount | null): Promise<void> {
    const { config } = this.deps
    if (this.mailTimings.failing) throw new DeliveryFailed({ retryAfter: 30 })
    if (account === null && config.mail.noticeUnknownAccount && config.mail.sngineSignupUrl) {
      await this.deps.mailer.send({ to: email, ...unknownAccountMail({ signupUrl: config.mail.sngineSignupUrl }) })
      return
    }
    await sleep(this.mailTimings.sample())
  }

  private async audit(type: string, flow: VerificationFlow, ip: string, data: Record<string, string | number | boolean | null>) {
    const channel = String(data.channel)
    const metrics = this.deps.metrics
    if (type === 'otp.sent') metrics?.otpSent.inc({ channel })
    else if (type === 'otp.send_failed') metrics?.otpFailed.inc({ channel })
    else if (type === 'otp.verified') metrics?.verifications.inc({ channel, outcome: 'verified' })
    else if (type === 'otp.failed') metrics?.verifications.inc({ channel, outcome: 'wrong_code' })
    if (!this.deps.audit) return
    try {
      await this.deps.audit({ type, ip, data: { flow: flow.id, ...data } })
    } catch (error) {
      logSideFailure(this.deps.log, error, { auditType: type }, 'audit event not recorded')
    }
  }
}

/** How long a send may be in progress: the slower provider's timeout, which applies per step, three times over. */
export function abandonedSendSeconds(config: Config): number {
  return Math.ceil((3 * Math.max(config.mail.timeoutMs, config.sms.timeoutMs)) / 1000) + 5
}

function generateCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0')
}

function retryAfterWindow(oldest: Date | null, windowMs: number): number {
  if (!oldest) return 60
  return Math.max(1, Math.ceil((oldest.getTime() + windowMs - Date.now()) / 1000))
}
