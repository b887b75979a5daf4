import { Agent as HttpAgent } from 'node:http'
import type TwilioSDK from 'twilio'
import type RequestClient from 'twilio/lib/base/RequestClient.js'
import type { Config } from '../config.js'
import { SmsDeliveryFailed, SmsRejected } from '../errors.js'
import type { DeliveryLogger } from './mail.js'

/**
 * Text messages to a phone, and codes the provider makes and checks itself.
 *
 * - `mode: 'message'` (`twilio`, `log`): we make the code, store its HMAC, and send it with `sendMessage`.
 * - `mode: 'verify'` (`twilio-verify`): Twilio Verify makes, sends and checks the code; we call
 *   `startVerification` and `checkVerification` and store no code at all.
 *
 * `to` is always E.164. Every method throws `SmsDeliveryFailed` (503, with `retryAfter`) when the provider
 * could not be reached, timed out or failed on its side, and `SmsRejected` (400 `invalid_phone`) when the
 * provider refuses the number itself (invalid, not mobile, unreachable, opted out, region blocked).
 */
export interface SmsGateway {
  readonly mode: 'message' | 'verify'
  /** False in `verify` mode without `TWILIO_FROM`/`TWILIO_MESSAGING_SERVICE_SID`: notices cannot go out. */
  readonly canSendMessages: boolean
  sendMessage(to: string, body: string): Promise<void>
  /** `verify` mode only. */
  startVerification(to: string): Promise<void>
  /** `verify` mode only. A wrong, expired, used-up or never-sent code is `'rejected'`. */
  checkVerification(to: string, code: string): Promise<'approved' | 'rejected'>
  close(): Promise<void>
}

/** Seconds a client is told to wait after a failed send. */
export const SMS_RETRY_AFTER_SECONDS = 30

/** The gateway named by configuration. */
export function createSmsGateway(config: Config['sms'], logger: DeliveryLogger): SmsGateway {
  if (config.transport === 'log') return logSmsGateway(logger)
  if (!config.accountSid || !config.authToken) throw new Error('SMS_TRANSPORT=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN')
  return twilioSmsGateway({
    mode: config.transport === 'twilio-verify' ? 'verify' : 'message',
    accountSid: config.accountSid,
    authToken: config.authToken,
    from: config.from,
    messagingServiceSid: config.messagingServiceSid,
    verifyServiceSid: config.verifyServiceSid,
    apiBaseUrl: config.apiBaseUrl,
    timeoutMs: config.timeoutMs,
  }, logger)
}

export interface TwilioGatewayOptions {
  mode: 'message' | 'verify'
  accountSid: string
  authToken: string
  from?: string
  messagingServiceSid?: string
  verifyServiceSid?: string
  /** Replaces `https://api.twilio.com` and `https://verify.twilio.com` (test doubles, compatible gateways). */
  apiBaseUrl?: string
  timeoutMs: number
}

/**
 * Twilio error codes that are about the destination number, not about us or Twilio's health.
 * https://www.twilio.com/docs/api/errors
 */
const NUMBER_REFUSALS: Record<number, string> = {
  21211: 'invalid_number', // Invalid 'To' Phone Number
  21217: 'invalid_number', // Phone number does not appear to be valid
  21265: 'invalid_number', // 'To' number cannot be a Short Code
  21614: 'not_mobile', // 'To' number is not a valid mobile number
  21214: 'unreachable', // 'To' phone number cannot be reached
  21612: 'unreachable', // The 'To' phone number is not currently reachable via SMS
  21610: 'opted_out', // Attempt to send to unsubscribed recipient (replied STOP)
  21408: 'region_not_permitted', // Permission to send an SMS has not been enabled for the region
  21407: 'region_not_permitted', // This Phone Number type does not support SMS
  60200: 'invalid_number', // Verify: invalid parameter; the only parameter a caller shapes is To
  60205: 'not_mobile', // Verify: SMS is not supported by landline phone number
  60410: 'region_not_permitted', // Verify: delivery to this prefix blocked (Fraud Guard)
  60605: 'region_not_permitted', // Verify: delivery to this country blocked (geo permissions)
}
/** Verify's "that verification no longer exists" (expired, approved already, never started). */
const VERIFICATION_GONE = new Set([20404])
/** Verify's "too many checks for this verification": the code is dead. */
const VERIFICATION_EXHAUSTED = new Set([60202])

const TWILIO_HOSTS = /^https:\/\/(?:api|verify)(?:\.[a-z0-9-]+)*\.twilio\.com(?=[/?]|$)/i

/** The loaded SDK, once a gateway has loaded it; only a loaded SDK can have thrown its errors. */
let loaded: typeof TwilioSDK | undefined

interface Connection {
  client: TwilioSDK.Twilio
  destroy(): void
}

/** The Twilio SDK costs about 180 ms and 20 MB to load: loaded at the first text message, not at start. */
async function connect(options: TwilioGatewayOptions): Promise<Connection> {
  const twilio = loaded = (await import('twilio')).default
  /**
   * The SDK's own HTTP client with two changes: the API hosts are replaced by `apiBaseUrl` when one is set
   * (Twilio's suggested way to point the SDK elsewhere: twilio/twilio-node#326), and plain-http base URLs
   * get a keep-alive agent of our own, so `close()` can release its sockets.
   */
  class GatewayRequestClient extends twilio.RequestClient {
    readonly httpAgent = new HttpAgent({ keepAlive: true, timeout: 0 })

    constructor(private readonly baseUrl: string | undefined, timeoutMs: number) {
      super({ timeout: timeoutMs, keepAlive: true, autoRetry: false })
      this.axios.defaults.httpAgent = this.httpAgent
    }

    override request<TData>(opts: RequestClient.RequestOptions<TData>) {
      const uri = this.baseUrl ? opts.uri.replace(TWILIO_HOSTS, this.baseUrl) : opts.uri
      return super.request<TData>({ ...opts, uri })
    }

    destroy(): void {
      this.httpAgent.destroy()
      const httpsAgent = this.axios.defaults.httpsAgent as { destroy?: () => void } | undefined
      httpsAgent?.destroy?.()
    }
  }
  const httpClient = new GatewayRequestClient(options.apiBaseUrl, options.timeoutMs)
  return { client: twilio(options.accountSid, options.authToken, { httpClient }), destroy: () => httpClient.destroy() }
}

export function twilioSmsGateway(options: TwilioGatewayOptions, logger: DeliveryLogger): SmsGateway {
  let connecting: Promise<Connection> | undefined
  const connected = () => (connecting ??= connect(options))
  const sender = options.messagingServiceSid
    ? { messagingServiceSid: options.messagingServiceSid }
    : options.from ? { from: options.from } : undefined
  const verifyServiceSid = options.verifyServiceSid

  const fail = (operation: string, error: unknown): never => {
    const summary = describeTwilioError(error)
    const reason = summary.twilioCode !== undefined ? NUMBER_REFUSALS[summary.twilioCode] : undefined
    if (reason && summary.status !== undefined && summary.status >= 400 && summary.status < 500) {
      logger.info({ smsError: { operation, ...summary } }, 'sms provider refused the number')
      throw new SmsRejected({ details: { reason } })
    }
    // A 4xx that is not about the number means our credentials or settings are wrong: an operator must act.
    const ours = summary.status !== undefined && summary.status >= 400 && summary.status < 500 && summary.status !== 429
    if (ours) logger.error({ smsError: { operation, ...summary } }, 'sms provider refused the request; check the Twilio configuration')
    else logger.warn({ smsError: { operation, ...summary } }, 'sms not delivered')
    throw new SmsDeliveryFailed({ retryAfter: SMS_RETRY_AFTER_SECONDS })
  }

  const requireVerify = (): string => {
    if (options.mode !== 'verify' || !verifyServiceSid) throw new Error('this SMS gateway is not in verify mode')
    return verifyServiceSid
  }

  return {
    mode: options.mode,
    canSendMessages: sender !== undefined,
    async sendMessage(to, body) {
      if (!sender) throw new Error('no TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID: this gateway cannot send messages')
      try {
        await (await connected()).client.messages.create({ to, body, ...sender })
      } catch (error) {
        fail('messages.create', error)
      }
    },
    async startVerification(to) {
      const service = requireVerify()
      try {
        await (await connected()).client.verify.v2.services(service).verifications.create({ to, channel: 'sms' })
      } catch (error) {
        fail('verifications.create', error)
      }
    },
    async checkVerification(to, code) {
      const service = requireVerify()
      try {
        const check = await (await connected()).client.verify.v2.services(service).verificationChecks.create({ to, code })
        return check.status === 'approved' ? 'approved' : 'rejected'
      } catch (error) {
        const { status, twilioCode } = describeTwilioError(error)
        if (status === 404 && twilioCode !== undefined && VERIFICATION_GONE.has(twilioCode)) return 'rejected'
        if (twilioCode !== undefined && VERIFICATION_EXHAUSTED.has(twilioCode)) return 'rejected'
        return fail('verificationChecks.create', error)
      }
    },
    async close() {
      // A connection still being made is released once it is there.
      (await connecting?.catch(() => undefined))?.destroy()
    },
  }
}

/** Development only (configuration refuses it in production): the text goes to the log, code and all. */
export function logSmsGateway(logger: DeliveryLogger): SmsGateway {
  return {
    mode: 'message',
    canSendMessages: true,
    async sendMessage(to, body) {
      // `devMessage` is not a redacted field name, so the code stays readable for whoever runs the demo.
      logger.warn({ devMessage: { to: maskPhone(to), body } }, 'SMS_TRANSPORT=log: text message written to the log instead of sent')
    },
    async startVerification() {
      throw new Error('this SMS gateway is not in verify mode')
    },
    async checkVerification() {
      throw new Error('this SMS gateway is not in verify mode')
    },
    async close() {},
  }
}

interface TwilioErrorSummary {
  status?: number
  twilioCode?: number
  /** Network-level code (ECONNREFUSED, ECONNABORTED for a timeout, ...). */
  errorCode?: string
  moreInfo?: string
}

/**
 * Twilio's messages quote the phone number ("The 'To' number +1... is not valid") and axios errors carry
 * the request (body with the code, Authorization header), so only these fields ever reach the log.
 */
function describeTwilioError(error: unknown): TwilioErrorSummary {
  if (loaded && error instanceof loaded.RestException) {
    return { status: error.status, twilioCode: typeof error.code === 'number' ? error.code : undefined, moreInfo: error.moreInfo }
  }
  const e = (error ?? {}) as { code?: unknown; response?: { status?: unknown } }
  return {
    status: typeof e.response?.status === 'number' ? e.response.status : undefined,
    errorCode: typeof e.code === 'string' ? e.code : error instanceof Error ? error.name : 'unknown',
  }
}

function maskPhone(phone: string): string {
  return phone.length > 6 ? `${phone.slice(0, 2)}${'*'.repeat(phone.length - 6)}${phone.slice(-4)}` : '***'
}
