import type { MailMessage } from '../../adapters/mail.js'

/**
 * The words of every mail and text message onboarding sends. A one-time code is always the first
 * 6-digit number of the subject, the text and the SMS (the contract promises it, and autofill relies on
 * it), so nothing before it may hold six digits in a row.
 */
export type MailContent = Omit<MailMessage, 'to'>

const PRODUCT = 'Vottery'
/** Device names come from the client: long enough to recognise, too short to carry a story. */
const DEVICE_NAME_MAX = 64

export interface OtpMessageInput {
  code: string
  /** Lifetime of the code (`config.otp.ttl`). */
  ttlSeconds: number
}

export function otpMail({ code, ttlSeconds }: OtpMessageInput): MailContent {
  const expiry = minutes(ttlSeconds)
  return {
    subject: `${code} is your ${PRODUCT} code`,
    text: [
      `${code} is your ${PRODUCT} verification code.`,
      '',
      `Enter it where you asked for it. It expires in ${expiry} and works once.`,
      '',
      `Didn't ask for this? Ignore this email: nothing happens without the code. ${PRODUCT} will never ask you to share it.`,
    ].join('\n'),
    html: page(`${PRODUCT} verification code`, [
      paragraph(`Your ${PRODUCT} verification code is:`),
      paragraph(code, 'font-size:28px;font-weight:bold;letter-spacing:4px;margin:16px 0'),
      paragraph(`Enter it where you asked for it. It expires in ${expiry} and works once.`),
      paragraph(`Didn't ask for this? Ignore this email: nothing happens without the code. ${PRODUCT} will never ask you to share it.`, MUTED),
    ]),
  }
}

export interface OtpSmsInput extends OtpMessageInput {
  /**
   * The site's host (the WebAuthn RP id). When given, a last line `@host #code` lets browsers that
   * implement WebOTP fill the code in on that site, and only there.
   */
  webOtpHost?: string
}

export function otpSms({ code, ttlSeconds, webOtpHost }: OtpSmsInput): string {
  const body = `${code} is your ${PRODUCT} code. It expires in ${minutes(ttlSeconds)}. Never share it.`
  return webOtpHost ? `${body}\n\n@${webOtpHost} #${code}` : body
}

export interface PasskeyAddedInput {
  /** How the device describes itself, e.g. "Chrome on macOS". Client-supplied: cleaned and shortened here. */
  device: string
  at: Date
}

export function passkeyAddedMail({ device, at }: PasskeyAddedInput): MailContent {
  const name = deviceName(device)
  const when = formatTime(at)
  const warning = `If this wasn't you, sign in to ${PRODUCT} from a device you trust, remove that device and end its sessions.`
  return {
    subject: `A passkey was added to your ${PRODUCT} account`,
    text: [
      `A passkey was added to your ${PRODUCT} account on ${name} (${when}).`,
      '',
      'If this was you, there is nothing to do.',
      warning,
    ].join('\n'),
    html: page(`New passkey on your ${PRODUCT} account`, [
      `<p>${escapeHtml(`A passkey was added to your ${PRODUCT} account on `)}<strong>${escapeHtml(name)}</strong>${escapeHtml(` (${when}).`)}</p>`,
      paragraph('If this was you, there is nothing to do.'),
      paragraph(warning),
    ]),
  }
}

export function passkeyAddedSms({ device }: Pick<PasskeyAddedInput, 'device'>): string {
  return `${PRODUCT}: a passkey was added on ${deviceName(device)}. Not you? Sign in from a trusted device and remove it.`
}

export interface UnknownAccountInput {
  /** `config.mail.sngineSignupUrl`. */
  signupUrl: string
}

/**
 * For an address no Sngine account uses (only when `MAIL_UNKNOWN_ACCOUNT_NOTICE` is on): tells the
 * mailbox's owner where to sign up. It goes to that mailbox only, so the API reply still reveals nothing.
 */
export function unknownAccountMail({ signupUrl }: UnknownAccountInput): MailContent {
  return {
    subject: `Your ${PRODUCT} sign-in request`,
    text: [
      `Someone, probably you, asked for a ${PRODUCT} sign-in code for this email address, but no account uses it.`,
      '',
      `${PRODUCT} signs you in with your Sngine account. Create one here, then come back:`,
      signupUrl,
      '',
      "Didn't ask for this? Ignore this email; nothing else will happen.",
    ].join('\n'),
    html: page(`Your ${PRODUCT} sign-in request`, [
      paragraph(`Someone, probably you, asked for a ${PRODUCT} sign-in code for this email address, but no account uses it.`),
      `<p>${escapeHtml(`${PRODUCT} signs you in with your Sngine account. `)}<a href="${escapeHtml(signupUrl)}">Create one here</a>, then come back.</p>`,
      paragraph("Didn't ask for this? Ignore this email; nothing else will happen.", MUTED),
    ]),
  }
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Safe in element text and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!)
}

const MUTED = 'color:#666'

/** A paragraph of plain text; every character of it is escaped. */
function paragraph(text: string, style?: string): string {
  return style ? `<p style="${style}">${escapeHtml(text)}</p>` : `<p>${escapeHtml(text)}</p>`
}

/** `title` is plain text; `blocks` are HTML built with `paragraph` or escaped by hand. */
function page(title: string, blocks: string[]): string {
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.5;color:#222">',
    ...blocks,
    '</body></html>',
  ].join('\n')
}

function minutes(seconds: number): string {
  const count = Math.max(1, Math.ceil(seconds / 60))
  return count === 1 ? '1 minute' : `${count} minutes`
}

/** One line, no control characters, bounded length (counted in characters, so no emoji is cut in half). */
function deviceName(device: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = device.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim()
  const characters = [...flat]
  if (characters.length === 0) return 'an unnamed device'
  return characters.length > DEVICE_NAME_MAX ? `${characters.slice(0, DEVICE_NAME_MAX - 1).join('')}…` : flat
}

function formatTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}
