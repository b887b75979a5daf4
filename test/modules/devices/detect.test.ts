import t from 'tap'
import { ACCEPT_CH, detectDevice, hintsFromHeaders } from '../../../src/modules/devices/detect.js'
import { USER_AGENTS } from '../../fixtures/user-agents.js'

const major = (version: string | null) => (version === null ? null : version.split('.')[0] ?? null)

t.test('the corpus covers the device families onboarding meets', async (t) => {
  t.ok(USER_AGENTS.length >= 30, `${USER_AGENTS.length} cases`)
  const seen = new Set(USER_AGENTS.map((c) => `${c.expected.type}/${c.expected.os}`))
  for (const family of ['mobile/iOS', 'tablet/iPadOS', 'mobile/Android', 'tablet/Android', 'desktop/Windows', 'desktop/macOS', 'desktop/Linux', 'desktop/ChromeOS', 'laptop/Windows']) {
    t.ok(seen.has(family), family)
  }
})

for (const c of USER_AGENTS) {
  t.test(c.name, async (t) => {
    const device = detectDevice({ userAgent: c.userAgent, hints: c.hints, declared: c.declared })
    t.equal(device.type, c.expected.type, 'type')
    t.equal(device.os, c.expected.os, 'os')
    t.equal(major(device.osVersion), c.expected.osVersion, 'os major version')
    t.equal(device.browser, c.expected.browser, 'browser')
    if (c.expected.model !== undefined) t.equal(device.model, c.expected.model, 'model')
    t.equal(device.embedded, c.expected.embedded ?? false, 'embedded')
    t.ok(device.derivedFrom.includes('user-agent'), 'derived from the user agent')
    t.equal(device.derivedFrom.includes('client-hints'), c.hints !== undefined, 'client hints used exactly when given')
  })
}

t.test('browser versions drop the zero padding of reduced agents', async (t) => {
  const chrome = detectDevice({ userAgent: USER_AGENTS.find((c) => c.name === 'Windows 10/11, Chrome')!.userAgent })
  t.equal(chrome.browserVersion, '126')
  t.equal(chrome.engine, 'Blink')
  t.equal(chrome.engineVersion, '126')
  const safari = detectDevice({ userAgent: USER_AGENTS.find((c) => c.name === 'iPhone, Safari 17.5')!.userAgent })
  t.equal(safari.browserVersion, '17.5')
  t.equal(safari.osVersion, '17.5')
  const opera = detectDevice({ userAgent: USER_AGENTS.find((c) => c.name === 'Windows 10/11, Opera')!.userAgent })
  t.equal(opera.browserVersion, '111')
  t.equal(opera.engineVersion, '125', 'the Chromium version Opera embeds')
  const firefox = detectDevice({ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0' })
  t.equal(firefox.engine, 'Gecko')
  t.equal(firefox.engineVersion, '127', 'rv:, not the frozen Gecko/20100101')
})

t.test('Windows 11 is told from Windows 10 only by the platform version hint', async (t) => {
  const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
  const version = (platformVersion: string) => detectDevice({ userAgent: ua, hints: { platform: 'Windows', platformVersion } }).osVersion
  t.equal(version('15.0.0'), '11')
  t.equal(version('14.0.0'), '11')
  t.equal(version('13.0.0'), '11', '13 is the first Windows 11 level')
  t.equal(version('10.0.0'), '10')
  t.equal(version('8.0.0'), '10', 'Windows 10 1903')
  t.equal(version('1.0.0'), '10')
  t.equal(detectDevice({ userAgent: ua }).osVersion, '10', 'without hints the agent only says NT 10.0')
  t.equal(detectDevice({ userAgent: ua, hints: { platform: 'Windows' } }).osVersion, '10', 'a platform without a version keeps the agent\'s')
  const windows7 = 'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36'
  t.equal(detectDevice({ userAgent: windows7, hints: { platform: 'Windows', platformVersion: '0.0.0' } }).osVersion, '7', 'Windows 7/8/8.1 all say 0.0.0; the agent tells which')
  t.equal(detectDevice({ userAgent: ua, hints: { platform: 'Windows', platformVersion: '0.0.0' } }).osVersion, null, '0.0.0 with an NT 10.0 agent contradicts itself')
})

t.test('hints override the agent: a phone in desktop mode, a model, the mobile flag', async (t) => {
  // Chrome's "desktop site" on a phone sends a Linux desktop agent but keeps its platform hint.
  const desktopSite = detectDevice({
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    hints: { platform: 'Android', platformVersion: '14.0.0', mobile: '?0' },
  })
  t.equal(desktopSite.os, 'Android')
  t.equal(desktopSite.osVersion, '14')
  t.equal(desktopSite.type, 'tablet', 'a non-mobile Android browser reads as a tablet')

  const linux = detectDevice({
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    hints: { platform: 'Linux', platformVersion: '', mobile: '?0', model: '' },
  })
  t.equal(linux.os, 'Linux')
  t.equal(linux.osVersion, null, 'Linux never sends a version')
  t.equal(linux.type, 'desktop')
  t.equal(linux.model, null, 'an empty model hint is no model')

  const chromeos = detectDevice({
    userAgent: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    hints: { platform: 'Chrome OS', platformVersion: '15886.44.0' },
  })
  t.equal(chromeos.os, 'ChromeOS')
  t.equal(chromeos.osVersion, '15886.44')
})

t.test('the Sec-CH-UA brand list unmasks browsers that send Chrome\'s agent', async (t) => {
  const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
  const brave = detectDevice({ userAgent: ua, hints: { ua: '"Not/A)Brand";v="8", "Chromium";v="126", "Brave";v="126"' } })
  t.equal(brave.browser, 'Brave')
  t.same(brave.derivedFrom, ['user-agent', 'client-hints'])
  const chrome = detectDevice({ userAgent: ua, hints: { ua: '"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="99"' } })
  t.equal(chrome.browser, 'Chrome')
  t.same(chrome.derivedFrom, ['user-agent'], 'brands that change nothing are not counted as a source')
})

t.test('hints alone, without an agent, still describe the device', async (t) => {
  const device = detectDevice({
    hints: { platform: 'Android', platformVersion: '14.0.0', mobile: '?1', model: 'Pixel 8', ua: '" Not A;Brand";v="99", "Chromium";v="126", "Google Chrome";v="126"' },
  })
  t.match(device, { type: 'mobile', os: 'Android', osVersion: '14', browser: 'Chrome', browserVersion: '126', model: 'Pixel 8', engine: 'Blink' })
  t.same(device.derivedFrom, ['client-hints'])
  const edge = detectDevice({ hints: { platform: 'Windows', platformVersion: '15.0.0', mobile: '?0', ua: '"Microsoft Edge";v="126", "Chromium";v="126", "Not-A.Brand";v="8"' } })
  t.match(edge, { type: 'desktop', os: 'Windows', osVersion: '11', browser: 'Edge', browserVersion: '126' })
})

t.test('laptop comes only from the declaration, and only for a desktop-class agent', async (t) => {
  const windows = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
  const laptop = detectDevice({ userAgent: windows, declared: { formFactor: 'laptop' } })
  t.equal(laptop.type, 'laptop')
  t.same(laptop.derivedFrom, ['user-agent', 'declared'])
  t.equal(detectDevice({ userAgent: windows }).type, 'desktop', 'an agent cannot tell a laptop')

  const phone = 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36'
  const claimed = detectDevice({ userAgent: phone, declared: { formFactor: 'laptop' } })
  t.equal(claimed.type, 'mobile', 'a phone declaring itself a laptop stays a phone')
  t.notOk(claimed.derivedFrom.includes('declared'))
  t.equal(detectDevice({ userAgent: windows, declared: { formFactor: 'mobile' } }).type, 'desktop', 'other declarations do not override the agent')
})

t.test('a Mac agent is an iPad only with touch evidence', async (t) => {
  const mac = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15'
  t.match(detectDevice({ userAgent: mac }), { type: 'desktop', os: 'macOS', osVersion: null })
  t.match(detectDevice({ userAgent: mac, declared: { maxTouchPoints: 0 } }), { type: 'desktop', os: 'macOS' })
  t.match(detectDevice({ userAgent: mac, declared: { maxTouchPoints: 1 } }), { type: 'desktop', os: 'macOS' }, 'one touch point is not a touch screen')
  t.match(detectDevice({ userAgent: mac, declared: { maxTouchPoints: 5 } }), { type: 'tablet', os: 'iPadOS', osVersion: '18.2', model: 'iPad' })
  t.match(detectDevice({ userAgent: mac, declared: { formFactor: 'tablet', maxTouchPoints: 5 } }), { type: 'tablet', os: 'iPadOS' })
  const firefoxMac = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0'
  t.match(detectDevice({ userAgent: firefoxMac, declared: { formFactor: 'tablet' } }), { type: 'tablet', os: 'iPadOS', osVersion: null }, 'only Safari\'s version follows iPadOS')
})

t.test('with nothing to go on, the declaration or nothing', async (t) => {
  t.same(detectDevice({}), {
    type: 'unknown', os: null, osVersion: null, browser: null, browserVersion: null, model: null,
    engine: null, engineVersion: null, embedded: false, derivedFrom: [],
  })
  t.match(detectDevice({ userAgent: '   ', declared: { formFactor: 'mobile' } }), { type: 'mobile', os: null, derivedFrom: ['declared'] })
  t.equal(detectDevice({ declared: { formFactor: 'watch' as never } }).type, 'unknown', 'an unknown form factor is ignored')
  const curl = detectDevice({ userAgent: 'curl/8.5.0' })
  t.equal(curl.type, 'unknown')
  t.equal(curl.os, null)
})

t.test('hint values that name Object.prototype members are unknown platforms', async (t) => {
  for (const platform of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const device = detectDevice({ hints: { platform, platformVersion: '1.0.0' } })
    t.equal(device.os, null, platform)
  }
})

t.test('hintsFromHeaders reads the headers Node lower-cases and strips their quotes', async (t) => {
  t.same(hintsFromHeaders({
    'sec-ch-ua': '"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="99"',
    'sec-ch-ua-platform': '"Windows"',
    'sec-ch-ua-platform-version': '"15.0.0"',
    'sec-ch-ua-mobile': '?0',
    'sec-ch-ua-model': '""',
    'user-agent': 'ignored',
  }), {
    platform: 'Windows',
    platformVersion: '15.0.0',
    mobile: '?0',
    model: '',
    ua: '"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="99"',
  })
  t.same(hintsFromHeaders({}), {}, 'absent headers stay absent')
  t.same(hintsFromHeaders({ 'sec-ch-ua-model': ['"Pixel 8"', '"other"'] }), { model: 'Pixel 8' }, 'a repeated header counts once')
  t.same(hintsFromHeaders({ 'sec-ch-ua-model': '"Moto \\"G\\" \\\\ 5"' }), { model: 'Moto "G" \\ 5' }, 'escapes inside a structured string')
  t.same(hintsFromHeaders({ 'sec-ch-ua-platform': ' Android ' }), { platform: 'Android' }, 'an unquoted value passes trimmed')

  const device = detectDevice({
    userAgent: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
    hints: hintsFromHeaders({ 'sec-ch-ua-platform': '"Android"', 'sec-ch-ua-platform-version': '"13.0.0"', 'sec-ch-ua-mobile': '?1', 'sec-ch-ua-model': '"SM-A546B"' }),
  })
  t.match(device, { type: 'mobile', os: 'Android', osVersion: '13', model: 'SM-A546B' })
})

t.test('ACCEPT_CH asks for every hint detection reads', async (t) => {
  const names = ACCEPT_CH.split(',').map((name) => name.trim())
  t.same(names.sort(), ['Sec-CH-UA-Mobile', 'Sec-CH-UA-Model', 'Sec-CH-UA-Platform', 'Sec-CH-UA-Platform-Version'])
})
