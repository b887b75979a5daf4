import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

/** `ada@example.com` → `a***@example.com`: enough to recognise, not enough to learn. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  if (at < 1) return '***'
  return `${email[0]}***${email.slice(at)}`
}

/** `+14155552671` → `+1******2671`: calling code and last four digits. */
export function maskPhone(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164)
  const callingCode = parsed?.countryCallingCode ?? ''
  const national = parsed?.nationalNumber ?? e164.replace(/\D/g, '')
  const shown = national.slice(-4)
  return `+${callingCode}${'*'.repeat(Math.max(0, national.length - shown.length))}${shown}`
}
