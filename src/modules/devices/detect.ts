import Bowser from 'bowser'

/**
 * What kind of device a request comes from, derived from the User-Agent string, User-Agent
 * Client Hints and what the client says about itself. Pure: no I/O, no state.
 *
 * The three inputs are ranked: Client Hints are the browser's own structured answer and win over
 * the User-Agent string, which browsers have frozen (Windows 11 says "Windows NT 10.0", every Mac
 * says 10.15.7, reduced Chrome on Android says "Android 10; K"). What the client declares is the
 * least trusted (any script can send it) and only settles what the agent cannot tell: a laptop
 * versus a desktop, and an iPad that sends a Mac's Safari agent. The caller stores the declared
 * values separately; `derivedFrom` says which inputs the result actually rests on.
 */

export type FormFactor = 'desktop' | 'laptop' | 'tablet' | 'mobile'
export type DeviceType = FormFactor | 'unknown'
export type DerivationSource = 'user-agent' | 'client-hints' | 'declared'

/** User-Agent Client Hints, header values with their structured-field quotes removed (see `hintsFromHeaders`). */
export interface ClientHints {
  /** Sec-CH-UA-Platform: "Windows", "macOS", "Android", "Linux", "Chrome OS", "iOS", "Unknown". */
  platform?: string
  /** Sec-CH-UA-Platform-Version; on Windows the UniversalApiContract level (13 and above is Windows 11). */
  platformVersion?: string
  /** Sec-CH-UA-Mobile: the structured boolean `?1` or `?0`. */
  mobile?: string
  /** Sec-CH-UA-Model: the device model, empty on desktops. */
  model?: string
  /** Sec-CH-UA: the brand list, e.g. `"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="99"`. */
  ua?: string
}

/** What the client reports about itself (form fields of the device step). */
export interface DeclaredDevice {
  formFactor?: FormFactor
  platformAuthenticator?: boolean
  name?: string
  /** navigator.maxTouchPoints */
  maxTouchPoints?: number
}

export interface DetectionInput {
  userAgent?: string
  hints?: ClientHints
  declared?: DeclaredDevice
}

export interface DetectedDevice {
  type: DeviceType
  /** 'iOS', 'iPadOS', 'Android', 'Windows', 'macOS', 'Linux', 'ChromeOS', or another name bowser gives. */
  os: string | null
  /** Null where the agent only carries a frozen placeholder (macOS 10.15.7, reduced Android "10"). */
  osVersion: string | null
  /** 'Safari', 'Chrome', 'Edge', 'Firefox', 'Samsung Internet', 'Opera', or another name bowser gives. */
  browser: string | null
  browserVersion: string | null
  model: string | null
  /** 'Blink', 'WebKit', 'Gecko', 'EdgeHTML'… */
  engine: string | null
  /** For Blink, the Chromium version the agent carries, which is what WebAuthn support follows. */
  engineVersion: string | null
  /** An app's embedded web view (Facebook, Instagram…) rather than a browser. */
  embedded: boolean
  derivedFrom: DerivationSource[]
}

/** Value of the `Accept-CH` response header asking Chromium browsers for the hints `detectDevice` reads. */
export const ACCEPT_CH = 'Sec-CH-UA-Platform, Sec-CH-UA-Platform-Version, Sec-CH-UA-Mobile, Sec-CH-UA-Model'

type HeaderValue = string | string[] | undefined

/** Picks the Client Hints out of request headers (Node lower-cases their names) and removes their quotes. */
export function hintsFromHeaders(headers: Record<string, HeaderValue>): ClientHints {
  const read = (name: string): string | undefined => {
    const value = headers[name]
    const first = Array.isArray(value) ? value[0] : value
    return first === undefined ? undefined : first.trim()
  }
  const hints: ClientHints = {}
  const platform = read('sec-ch-ua-platform')
  const platformVersion = read('sec-ch-ua-platform-version')
  const mobile = read('sec-ch-ua-mobile')
  const model = read('sec-ch-ua-model')
  const ua = read('sec-ch-ua')
  if (platform !== undefined) hints.platform = unquote(platform)
  if (platformVersion !== undefined) hints.platformVersion = unquote(platformVersion)
  if (mobile !== undefined) hints.mobile = mobile
  if (model !== undefined) hints.model = unquote(model)
  if (ua !== undefined) hints.ua = ua
  return hints
}

/** Removes the quotes of a structured-field string (RFC 8941 §3.3.3); other values pass through trimmed. */
function unquote(value: string): string {
  const trimmed = value.trim()
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    return trimmed.slice(1, -1).replace(/\\(.)/g, '$1')
  }
  return trimmed
}

const SOURCES: DerivationSource[] = ['user-agent', 'client-hints', 'declared']
const FORM_FACTORS = new Set<string>(['desktop', 'laptop', 'tablet', 'mobile'])

const BROWSER_NAMES: Record<string, string> = {
  'Microsoft Edge': 'Edge',
  'Samsung Internet for Android': 'Samsung Internet',
}

const OS_NAMES: Record<string, string> = {
  'Chrome OS': 'ChromeOS',
}

const renamed = (names: Record<string, string>, name: string) => (Object.hasOwn(names, name) ? names[name] ?? name : name)

/** Sec-CH-UA-Platform values (the spec's list) to the names this module uses. */
const HINT_PLATFORMS: Record<string, string> = {
  windows: 'Windows',
  macos: 'macOS',
  android: 'Android',
  linux: 'Linux',
  'chrome os': 'ChromeOS',
  'chromium os': 'ChromeOS',
  ios: 'iOS',
}

/** Brands in Sec-CH-UA, most specific first: every Chromium browser also lists "Chromium". */
const HINT_BRANDS: [brand: string, browser: string][] = [
  ['Microsoft Edge', 'Edge'],
  ['Opera', 'Opera'],
  ['Samsung Internet', 'Samsung Internet'],
  ['Brave', 'Brave'],
  ['Google Chrome', 'Chrome'],
  ['Chromium', 'Chromium'],
]

interface Brand { brand: string; version: string }

/** Parses a Sec-CH-UA brand list, dropping the GREASE entry ("Not A;Brand", "Not/A)Brand"…). */
function parseBrandList(value: string): Brand[] {
  const brands: Brand[] = []
  const pattern = /"((?:[^"\\]|\\.)*)"\s*;\s*v\s*=\s*"((?:[^"\\]|\\.)*)"/g
  for (const match of value.matchAll(pattern)) {
    const brand = (match[1] ?? '').replace(/\\(.)/g, '$1')
    if (/not.?a.?brand/i.test(brand)) continue
    brands.push({ brand, version: (match[2] ?? '').replace(/\\(.)/g, '$1') })
  }
  return brands
}

/** Drops trailing zero components: reduced agents pad with them ("126.0.0.0"), hints too ("14.0.0"). */
function trimVersion(version: string | undefined | null): string | null {
  if (!version) return null
  const trimmed = version.trim().replace(/(\.0+)+$/, '')
  return trimmed === '' ? null : trimmed
}

function major(version: string | null): number | null {
  if (version === null) return null
  const value = Number.parseInt(version, 10)
  return Number.isNaN(value) ? null : value
}

/** Android's model token, e.g. "SM-S918B" in "(Linux; Android 14; SAMSUNG SM-S918B)". Reduced agents say "K". */
function androidModel(userAgent: string): string | null {
  const match = /\(Linux; (?:U; )?Android [^;)]*;(?: [a-z]{2}[-_][a-z]{2};)? ([^;)]+?)(?: Build\/[^;)]*)?(?:; wv)?\)/i.exec(userAgent)
  const model = match?.[1]?.replace(/^SAMSUNG /i, '').trim()
  if (!model || /^(k|mobile|tablet|wv)$/i.test(model)) return null
  return model
}

/**
 * In-app web views: Android marks them with "; wv)"; on iOS a WKWebView that is not a browser
 * carries no "Safari/" token (Facebook, Instagram and friends).
 */
function isEmbedded(userAgent: string, os: string | null): boolean {
  if (/; wv\)/.test(userAgent)) return true
  return (os === 'iOS' || os === 'iPadOS') && !/ Safari\//.test(userAgent)
}

/**
 * Blink agents carry the Chromium version WebAuthn support follows in "Chrome/<version>"; Gecko's
 * "Gecko/20100101" is a frozen date, its real version is in "rv:".
 */
function engineVersion(engine: string | null, result: Bowser.Parser.ParsedResult, userAgent: string): string | null {
  if (engine === 'Blink') return trimVersion(/(?:Chrome|CriOS)\/(\d+(?:\.\d+)*)/.exec(userAgent)?.[1])
  if (engine === 'Gecko') return trimVersion(/rv:(\d+(?:\.\d+)*)/.exec(userAgent)?.[1])
  return trimVersion(result.engine.version)
}

/** The agent's own OS version, or null where the agent only carries a frozen placeholder. */
function agentOsVersion(os: string | null, result: Bowser.Parser.ParsedResult, userAgent: string): string | null {
  const version = result.os.version
  switch (os) {
    case 'Windows':
      return result.os.versionName ?? null
    case 'macOS':
      // Safari and Chrome have said 10_15_7, Firefox 10.15, on every macOS since Big Sur.
      return version === '10.15.7' || version === '10.15' ? null : trimVersion(version)
    case 'Android':
      // The reduced Chrome agent says "Android 10; K" whatever the version.
      return /Android 10; K\)/.test(userAgent) ? null : trimVersion(version)
    default:
      return trimVersion(version)
  }
}

/** Windows' platform version is the UniversalApiContract level: 1–10 is Windows 10, 13 and above Windows 11. */
function windowsVersionFromHint(platformVersion: string, agentVersion: string | null): string | null {
  const level = major(trimVersion(platformVersion) ?? '0')
  if (level === null) return agentVersion
  if (level >= 13) return '11'
  if (level >= 1) return '10'
  // Windows 7, 8 and 8.1 all report 0.0.0; the agent's NT version tells them apart.
  return agentVersion === '10' ? null : agentVersion
}

export function detectDevice(input: DetectionInput): DetectedDevice {
  const userAgent = input.userAgent?.trim() ?? ''
  const hints = input.hints ?? {}
  const declared = input.declared ?? {}
  const derivedFrom = new Set<DerivationSource>()
  const brands = hints.ua ? parseBrandList(hints.ua) : []

  const device: DetectedDevice = {
    type: 'unknown',
    os: null,
    osVersion: null,
    browser: null,
    browserVersion: null,
    model: null,
    engine: null,
    engineVersion: null,
    embedded: false,
    derivedFrom: [],
  }

  if (userAgent !== '') {
    let result = Bowser.parse(userAgent)
    // Brands unmask browsers whose agent is Chrome's (Brave, for one); bowser reads them when given.
    if (brands.length > 0) {
      const withBrands = Bowser.parse(userAgent, { brands })
      if (withBrands.browser.name !== result.browser.name || withBrands.browser.version !== result.browser.version) {
        result = withBrands
        derivedFrom.add('client-hints')
      }
    }
    const platformType = result.platform.type
    device.type = platformType === 'desktop' || platformType === 'tablet' || platformType === 'mobile' ? platformType : 'unknown'
    const osName = result.os.name ? renamed(OS_NAMES, result.os.name) : null
    device.osVersion = agentOsVersion(osName, result, userAgent)
    device.os = osName === 'iOS' && result.platform.model === 'iPad' && (major(device.osVersion) ?? 0) >= 13 ? 'iPadOS' : osName
    device.browser = result.browser.name ? renamed(BROWSER_NAMES, result.browser.name) : null
    device.browserVersion = trimVersion(result.browser.version)
    device.engine = result.engine.name ?? null
    device.engineVersion = engineVersion(device.engine, result, userAgent)
    device.model = result.platform.model ?? androidModel(userAgent)
    device.embedded = isEmbedded(userAgent, device.os)
    if (device.os !== null || device.browser !== null || device.type !== 'unknown') derivedFrom.add('user-agent')
  } else if (brands.length > 0) {
    for (const [brand, browser] of HINT_BRANDS) {
      const found = brands.find((b) => b.brand === brand)
      if (!found) continue
      device.browser = browser
      device.browserVersion = trimVersion(found.version)
      device.engine = 'Blink'
      device.engineVersion = trimVersion(brands.find((b) => b.brand === 'Chromium')?.version ?? found.version)
      derivedFrom.add('client-hints')
      break
    }
  }

  const platform = hints.platform?.trim().toLowerCase() ?? ''
  const hintedOs = Object.hasOwn(HINT_PLATFORMS, platform) ? HINT_PLATFORMS[platform] : undefined
  if (hintedOs !== undefined) {
    const agentVersion = device.os === hintedOs ? device.osVersion : null
    const platformVersion = hints.platformVersion?.trim() ?? ''
    device.os = hintedOs
    if (hintedOs === 'Windows') device.osVersion = platformVersion ? windowsVersionFromHint(platformVersion, agentVersion) : agentVersion
    else if (hintedOs === 'Linux') device.osVersion = null
    else device.osVersion = trimVersion(platformVersion) ?? agentVersion
    derivedFrom.add('client-hints')
  }
  if (hints.mobile === '?1') {
    device.type = 'mobile'
    derivedFrom.add('client-hints')
  } else if (hints.mobile === '?0') {
    // An Android browser that does not ask for mobile content is on a tablet (or a phone in desktop mode).
    if (device.os === 'Android') device.type = 'tablet'
    else if (device.type === 'mobile' || device.type === 'unknown') device.type = 'desktop'
    derivedFrom.add('client-hints')
  }
  const hintedModel = hints.model?.trim()
  if (hintedModel) {
    device.model = hintedModel
    derivedFrom.add('client-hints')
  }

  // Since iPadOS 13 Safari on an iPad sends the Mac agent by default; a Mac has no touch screen.
  if (device.os === 'macOS' && (declared.formFactor === 'tablet' || (declared.maxTouchPoints ?? 0) > 1)) {
    device.type = 'tablet'
    device.os = 'iPadOS'
    // Safari's version follows the iPadOS release it ships with.
    device.osVersion = device.browser === 'Safari' ? device.browserVersion : null
    device.model = 'iPad'
    derivedFrom.add('declared')
  } else if (declared.formFactor === 'laptop' && (device.type === 'desktop' || device.type === 'unknown')) {
    device.type = 'laptop'
    derivedFrom.add('declared')
  } else if (device.type === 'unknown' && declared.formFactor !== undefined && FORM_FACTORS.has(declared.formFactor)) {
    device.type = declared.formFactor
    derivedFrom.add('declared')
  }

  device.derivedFrom = SOURCES.filter((source) => derivedFrom.has(source))
  return device
}
