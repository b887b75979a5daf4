import type { DetectedDevice } from './detect.js'

/**
 * Can this device finish onboarding's last step: register a WebAuthn credential on a *platform*
 * authenticator (Touch ID, Face ID, Windows Hello, Android screen lock) with user verification?
 *
 * Two kinds of evidence, and both must agree:
 * - the client's own `PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()` answer
 *   (`platformAuthenticator`), which alone knows whether this machine has Touch ID, a Hello PIN or a
 *   screen lock set up;
 * - the browser and OS versions below, because that answer can only be asked of a browser new enough
 *   to have the API, and because some browsers expose the API without wiring it to the platform
 *   authenticator (Firefox on macOS before 122, Samsung Internet before 17, in-app web views).
 *
 * The table is conservative: where sources disagree the later version counts, and a browser not in the
 * table, or without a version, is not vouched for. An OS version the agent hides (frozen agents) is not
 * held against the device: the browser minimums already imply a recent enough OS.
 *
 * Sources:
 * - [MDN] mdn/browser-compat-data api/PublicKeyCredential.json, isUserVerifyingPlatformAuthenticatorAvailable:
 *   Chrome 67, Chrome Android 70, Edge 18, Firefox 60 ("only USB U2F tokens"), Firefox Android 92,
 *   Safari 13; Opera mirrors Chrome.
 * - [CR70] Chromium blog, Chrome 70 beta (2018-09): WebAuthn platform authenticators, Touch ID on macOS
 *   and fingerprint on Android. Chrome on both therefore counts from 70, not MDN's desktop 67.
 * - [MOZ] wiki.mozilla.org/Security/Web_Authentication: Firefox on Windows 10 goes through Windows Hello,
 *   Firefox for Android through Play Services FIDO2. The wiki gives no release; 66 (March 2019, with the
 *   Windows 10 1903 WebAuthn API) is the commonly cited one and the least certain entry here.
 * - [FX122] Firefox 122 release notes (2024-01), caniuse PR Fyrd/caniuse#6962: passkeys through the macOS
 *   platform authenticator; before that Firefox on macOS only spoke to security keys.
 * - [WK14] webkit.org/blog/11312 "Meet Face ID and Touch ID for the Web": Safari 14, iOS/iPadOS 14, macOS Big Sur.
 * - [IOS145] mozilla-mobile/firefox-ios#5364: iOS 14.5 opened WebAuthn to other browsers (WKWebView with the
 *   default-browser entitlement). Every iOS browser is WebKit, so on iOS the OS version is what counts;
 *   14.5 is used for all of them, Safari included.
 * - [SI17] Samsung Internet 17.0 added Web Authentication (Samsung Internet developer blog; caniuse
 *   Fyrd/caniuse#6304); MDN's earlier mirrored data was removed as wrong (mdn/browser-compat-data#12329).
 * - [FIDO] FIDO Alliance / Google, 2019-02: Android 7.0 and later are FIDO2 certified (Play Services).
 * - [HELLO] passkeys.dev Windows reference: Windows Hello is the platform authenticator of Windows 10 and 11.
 *   Windows 10 before 1903 lacks the WebAuthn API browsers use, but the agent cannot show the build and
 *   the client's availability check already answers false there.
 * - [PKD] passkeys.dev device support: Linux has no OS platform authenticator; only the client's own check
 *   can say whether the browser brings one.
 */

export type IncompatibilityReason =
  | 'no_platform_authenticator'
  | 'embedded_browser'
  | 'unknown_browser'
  | 'browser_too_old'
  | 'unknown_os'
  | 'unsupported_os'
  | 'os_too_old'

export interface CompatibilityResult {
  compatible: boolean
  reasons: IncompatibilityReason[]
}

export type CompatibilityInput = Pick<DetectedDevice, 'os' | 'osVersion' | 'browser' | 'browserVersion'>
  & Partial<Pick<DetectedDevice, 'engine' | 'engineVersion' | 'embedded'>>

/** Minimum OS version per OS; null where the agent's version is frozen or no version gate applies. */
export const MIN_OS_VERSION: Readonly<Record<string, string | null>> = {
  Windows: '10', // [HELLO]
  Android: '7', // [FIDO]
  iOS: '14.5', // [WK14], [IOS145]
  iPadOS: '14.5', // [WK14], [IOS145]
  macOS: null, // every agent says 10.15.7; Safari 14+ and Chrome 70+ need a Touch ID-era macOS anyway
  Linux: null, // [PKD]
  ChromeOS: null, // follows Chrome's version
}

/** Minimum browser version, by OS where it differs (`default` otherwise). iOS and iPadOS are handled apart. */
export const MIN_BROWSER_VERSION: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Chrome: { default: '70' }, // [CR70], [MDN]
  Chromium: { default: '70' }, // Chrome's code base and version numbers
  Edge: { default: '79', Windows: '18' }, // [MDN] EdgeHTML 18 on Windows; Chromium Edge starts at 79
  Firefox: { default: '60', Windows: '66', macOS: '122', Android: '92' }, // [MDN], [MOZ], [FX122]
  Safari: { default: '14' }, // [WK14]
  'Samsung Internet': { default: '17' }, // [SI17]
}

/** Browsers whose WebAuthn follows the Chromium they embed ("Chrome/<version>" in the agent). */
export const MIN_CHROMIUM_ENGINE: Readonly<Record<string, string>> = {
  Opera: '70', // [MDN] Opera mirrors Chrome
}

/** iOS browsers with the default-browser entitlement that WebAuthn needs in a WKWebView [IOS145]. */
export const IOS_BROWSERS: ReadonlySet<string> = new Set(['Safari', 'Chrome', 'Firefox', 'Edge', 'Opera'])

/** Compares dotted numeric versions: negative, zero or positive like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map((part) => Number.parseInt(part, 10) || 0)
  const right = b.split('.').map((part) => Number.parseInt(part, 10) || 0)
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0)
    if (difference !== 0) return difference
  }
  return 0
}

const isNumericVersion = (version: string) => /^\d+(\.\d+)*$/.test(version)

/** Own entries only: names come from request data, and "constructor" must not find Object's. */
const entry = <T>(table: Readonly<Record<string, T>>, key: string | null): T | undefined =>
  key !== null && Object.hasOwn(table, key) ? table[key] : undefined

function osReasons(os: string | null, osVersion: string | null): IncompatibilityReason[] {
  if (os === null) return ['unknown_os']
  const minimum = entry(MIN_OS_VERSION, os)
  if (minimum === undefined) return ['unsupported_os']
  if (!minimum || osVersion === null) return []
  // Windows versions arrive as names: '10', '11', '8.1', '7', but also 'XP', 'Vista', '2000', '2003'.
  if (os === 'Windows') {
    const value = Number(osVersion)
    return Number.isFinite(value) && value >= 10 && value < 100 ? [] : ['os_too_old']
  }
  if (!isNumericVersion(osVersion)) return []
  return compareVersions(osVersion, minimum) < 0 ? ['os_too_old'] : []
}

function browserReasons(device: CompatibilityInput): IncompatibilityReason[] {
  const { browser, browserVersion, os } = device
  if (browser === null) return ['unknown_browser']
  if (os === 'iOS' || os === 'iPadOS') return IOS_BROWSERS.has(browser) ? [] : ['unknown_browser']

  const engineMinimum = entry(MIN_CHROMIUM_ENGINE, browser)
  if (engineMinimum !== undefined) {
    if (device.engine !== 'Blink' || !device.engineVersion) return ['unknown_browser']
    return compareVersions(device.engineVersion, engineMinimum) < 0 ? ['browser_too_old'] : []
  }
  const rule = entry(MIN_BROWSER_VERSION, browser)
  if (rule === undefined || browserVersion === null || !/^\d/.test(browserVersion)) return ['unknown_browser']
  const minimum = entry(rule, os) ?? entry(rule, 'default')
  if (minimum === undefined) return ['unknown_browser']
  return compareVersions(browserVersion, minimum) < 0 ? ['browser_too_old'] : []
}

/**
 * Whether `device` (from `detectDevice`) can register a platform passkey with user verification,
 * given the client's own `isUserVerifyingPlatformAuthenticatorAvailable()` answer. Reasons are
 * stable codes, in a fixed order, for the client to explain; `compatible` means there are none.
 */
export function checkCompatibility(device: CompatibilityInput, platformAuthenticator: boolean): CompatibilityResult {
  const reasons: IncompatibilityReason[] = []
  if (!platformAuthenticator) reasons.push('no_platform_authenticator')
  // An in-app web view is not the browser its agent imitates: the app decides whether WebAuthn exists.
  if (device.embedded) reasons.push('embedded_browser')
  else reasons.push(...browserReasons(device))
  reasons.push(...osReasons(device.os, device.osVersion))
  return { compatible: reasons.length === 0, reasons }
}
