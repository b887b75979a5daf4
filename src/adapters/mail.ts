import type { Transporter } from 'nodemailer'
import type { BaseLogger } from 'pino'
import type { Config } from '../config.js'
import { DeliveryFailed } from '../errors.js'

/** A mail ready to go: both bodies, rendered by modules/auth/messages.ts. */
export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailer {
  /** Hands the message to the mail server. Throws `DeliveryFailed` (503, with `retryAfter`) when it could not. */
  send(message: MailMessage): Promise<void>
  close(): Promise<void>
}

export type DeliveryLogger = Pick<BaseLogger, 'warn' | 'error' | 'info'>

/** Seconds a client is told to wait after a failed send; a mail server rarely recovers faster. */
export const MAIL_RETRY_AFTER_SECONDS = 30

/** The mailer named by configuration: pooled SMTP, or the development log. */
export function createMailer(config: Config['mail'], logger: DeliveryLogger): Mailer {
  if (config.transport === 'log') return logMailer(logger)
  if (!config.smtpUrl) throw new Error('MAIL_TRANSPORT=smtp needs SMTP_URL')
  return smtpMailer({ url: config.smtpUrl, from: config.from, timeoutMs: config.timeoutMs }, logger)
}

export interface SmtpMailerOptions {
  /** `smtp://` or `smtps://`, credentials and query options included (nodemailer's connection URL). */
  url: string
  from: string
  /** Bounds connecting, waiting for the greeting and every silence on the socket. */
  timeoutMs: number
}

export function smtpMailer(options: SmtpMailerOptions, logger: DeliveryLogger): Mailer {
  /** nodemailer costs about 100 ms and 14 MB to load: loaded at the first mail, not at start. */
  let opening: Promise<Transporter> | undefined
  const open = async (): Promise<Transporter> => {
    const { createTransport } = await import('nodemailer')
    // One options object on purpose: createTransport(url, opts) would read `opts` as message defaults and
    // drop the timeouts without a word. With `url` as a key, nodemailer parses it and merges the rest.
    const transport = createTransport({
      url: options.url,
      pool: true,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      // Our messages are plain strings; nothing in them may make nodemailer read a file or fetch a URL.
      disableFileAccess: true,
      disableUrlAccess: true,
    })
    // Pooled transports report idle-connection trouble as events; without a listener one would crash the process.
    transport.on('error', (error: Error) => logger.warn({ mailError: describeSmtpError(error) }, 'mail transport error'))
    return transport
  }

  return {
    async send(message) {
      try {
        await (await (opening ??= open())).sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
        })
      } catch (error) {
        logger.warn({ mailError: describeSmtpError(error) }, 'mail not delivered')
        throw new DeliveryFailed({ retryAfter: MAIL_RETRY_AFTER_SECONDS })
      }
    },
    async close() {
      // A transport still being opened is closed once it is there.
      (await opening?.catch(() => undefined))?.close()
    },
  }
}

/** Development only (configuration refuses it in production): the mail goes to the log, code and all. */
export function logMailer(logger: DeliveryLogger): Mailer {
  return {
    async send(message) {
      // `devMessage` is not a redacted field name, so the code stays readable for whoever runs the demo.
      logger.warn({ devMessage: { to: maskEmail(message.to), subject: message.subject, text: message.text } },
        'MAIL_TRANSPORT=log: mail written to the log instead of sent')
    },
    async close() {},
  }
}

/**
 * What an operator needs from an SMTP failure, and nothing that names the recipient: nodemailer's message
 * and the server's reply often quote the address, so addresses are blanked out of the text that is kept.
 */
function describeSmtpError(error: unknown): Record<string, unknown> {
  const e = (error ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown; message?: unknown }
  return {
    code: typeof e.code === 'string' ? e.code : undefined,
    responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
    command: typeof e.command === 'string' ? e.command.replace(/:.*$/, '') : undefined,
    reason: typeof e.message === 'string' ? scrubAddresses(e.message).slice(0, 200) : undefined,
  }
}

function scrubAddresses(text: string): string {
  return text.replace(/[^\s<>()"',;:]+@[^\s<>()"',;]+/g, '[address]')
}

function maskEmail(address: string): string {
  const at = address.lastIndexOf('@')
  if (at < 1) return '***'
  return `${address[0]}***${address.slice(at)}`
}
