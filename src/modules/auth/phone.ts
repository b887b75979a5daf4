import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max'

export interface NormalisedPhone {
  e164: string
  country: string | null
}

/**
 * Sngine keeps phones as typed ("(415) 555-2671", "+44 7700 900123", "004915…"): both the person's input
 * and the stored number go through the same parser, `defaultRegion` for numbers without a `+`.
 * Returns null for anything that is not a possible number.
 */
export function normalisePhone(input: string, defaultRegion: string): NormalisedPhone | null {
  const cleaned = input.trim().replace(/^00/, '+')
  if (cleaned.length === 0 || cleaned.length > 40) return null
  const parsed = parsePhoneNumberFromString(cleaned, defaultRegion as CountryCode)
  if (!parsed || !parsed.isPossible()) return null
  return { e164: parsed.number, country: parsed.country ?? null }
}
