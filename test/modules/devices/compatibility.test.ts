import t from 'tap'
import {
  checkCompatibility, compareVersions, MIN_BROWSER_VERSION, MIN_OS_VERSION, type CompatibilityInput,
} from '../../../src/modules/devices/compatibility.js'
import { detectDevice } from '../../../src/modules/devices/detect.js'
import { USER_AGENTS } from '../../fixtures/user-agents.js'

const device = (overrides: Partial<CompatibilityInput>): CompatibilityInput => ({
  os: 'Windows', osVersion: '10', browser: 'Chrome', browserVersion: '126', engine: 'Blink', engineVersion: '126', embedded: false, ...overrides,
})
const reasons = (overrides: Partial<CompatibilityInput>) => checkCompatibility(device(overrides), true).reasons

for (const c of USER_AGENTS) {
  t.test(`corpus: ${c.name}`, async (t) => {
    const detected = detectDevice({ userAgent: c.userAgent, hints: c.hints, declared: c.declared })
    const result = checkCompatibility(detected, true)
    t.same(result.reasons, c.incompatible)
    t.equal(result.compatible, c.incompatible.length === 0)
  })
}

t.test('without a platform authenticator nothing is compatible', async (t) => {
  const modern = checkCompatibility(device({}), false)
  t.same(modern, { compatible: false, reasons: ['no_platform_authenticator'] })
  const old = checkCompatibility(device({ os: 'Windows', osVersion: '7', browserVersion: '60' }), false)
  t.same(old.reasons, ['no_platform_authenticator', 'browser_too_old', 'os_too_old'], 'every reason, in a fixed order')
  t.same(checkCompatibility(device({}), true), { compatible: true, reasons: [] })
})

t.test('browser minimums, at the boundary', async (t) => {
  const cases: [Partial<CompatibilityInput>, boolean][] = [
    [{ browser: 'Chrome', browserVersion: '69.0.3497.100' }, false],
    [{ browser: 'Chrome', browserVersion: '70.0.3538.77' }, true],
    [{ browser: 'Chrome', browserVersion: '69', os: 'Android', osVersion: '9' }, false],
    [{ browser: 'Chrome', browserVersion: '70', os: 'Android', osVersion: '9' }, true],
    [{ browser: 'Chromium', browserVersion: '69', os: 'Linux', osVersion: null }, false],
    [{ browser: 'Chromium', browserVersion: '120', os: 'Linux', osVersion: null }, true],
    [{ browser: 'Edge', browserVersion: '17.17134', engine: 'EdgeHTML' }, false],
    [{ browser: 'Edge', browserVersion: '18.17763', engine: 'EdgeHTML' }, true],
    [{ browser: 'Edge', browserVersion: '46.3', os: 'Android', osVersion: '9' }, false],
    [{ browser: 'Edge', browserVersion: '79', os: 'macOS', osVersion: null }, true],
    [{ browser: 'Firefox', browserVersion: '65', engine: 'Gecko' }, false],
    [{ browser: 'Firefox', browserVersion: '66', engine: 'Gecko' }, true],
    [{ browser: 'Firefox', browserVersion: '121', os: 'macOS', osVersion: null, engine: 'Gecko' }, false],
    [{ browser: 'Firefox', browserVersion: '122', os: 'macOS', osVersion: null, engine: 'Gecko' }, true],
    [{ browser: 'Firefox', browserVersion: '91', os: 'Android', osVersion: '11', engine: 'Gecko' }, false],
    [{ browser: 'Firefox', browserVersion: '92', os: 'Android', osVersion: '11', engine: 'Gecko' }, true],
    [{ browser: 'Firefox', browserVersion: '59', os: 'Linux', osVersion: null, engine: 'Gecko' }, false],
    [{ browser: 'Firefox', browserVersion: '60', os: 'Linux', osVersion: null, engine: 'Gecko' }, true],
    [{ browser: 'Safari', browserVersion: '13.1.2', os: 'macOS', osVersion: null, engine: 'WebKit' }, false],
    [{ browser: 'Safari', browserVersion: '14', os: 'macOS', osVersion: null, engine: 'WebKit' }, true],
    [{ browser: 'Samsung Internet', browserVersion: '16.2', os: 'Android', osVersion: '12' }, false],
    [{ browser: 'Samsung Internet', browserVersion: '17', os: 'Android', osVersion: '12' }, true],
    [{ browser: 'Opera', browserVersion: '56', engineVersion: '69' }, false],
    [{ browser: 'Opera', browserVersion: '57', engineVersion: '70' }, true],
  ]
  for (const [overrides, compatible] of cases) {
    const result = reasons(overrides)
    t.same(result, compatible ? [] : ['browser_too_old'], `${overrides.browser} ${overrides.browserVersion} on ${overrides.os ?? 'Windows'}`)
  }
})

t.test('browsers outside the table, or without a version, are not vouched for', async (t) => {
  t.same(reasons({ browser: null, browserVersion: null }), ['unknown_browser'])
  t.same(reasons({ browser: 'Chrome', browserVersion: null }), ['unknown_browser'])
  t.same(reasons({ browser: 'Vivaldi', browserVersion: '6.7' }), ['unknown_browser'])
  t.same(reasons({ browser: 'Internet Explorer', browserVersion: '11' }), ['unknown_browser'])
  t.same(reasons({ browser: 'Opera', browserVersion: '111', engine: 'Presto', engineVersion: '2.12' }), ['unknown_browser'], 'old Presto Opera')
  t.same(reasons({ browser: 'Opera', browserVersion: '111', engineVersion: null }), ['unknown_browser'])
})

t.test('on iOS and iPadOS the OS decides, for browsers with the browser entitlement', async (t) => {
  for (const browser of ['Safari', 'Chrome', 'Firefox', 'Edge', 'Opera']) {
    t.same(reasons({ os: 'iOS', osVersion: '14.5', browser, browserVersion: '1' }), [], `${browser} on iOS 14.5`)
    t.same(reasons({ os: 'iPadOS', osVersion: '14.4.2', browser, browserVersion: '200' }), ['os_too_old'], `${browser} on iPadOS 14.4.2`)
  }
  t.same(reasons({ os: 'iOS', osVersion: '17.5', browser: 'Google Search', browserVersion: '321' }), ['unknown_browser'])
  t.same(reasons({ os: 'iOS', osVersion: '17.5', browser: 'Safari', browserVersion: null, embedded: true }), ['embedded_browser'])
})

t.test('OS minimums', async (t) => {
  t.same(reasons({ os: 'Windows', osVersion: '11' }), [])
  t.same(reasons({ os: 'Windows', osVersion: '10' }), [])
  for (const old of ['8.1', '8', '7', 'Vista', 'XP', '2000', '2003', 'NT']) t.same(reasons({ os: 'Windows', osVersion: old }), ['os_too_old'], `Windows ${old}`)
  t.same(reasons({ os: 'Android', osVersion: '6.0.1' }), ['os_too_old'])
  t.same(reasons({ os: 'Android', osVersion: '7' }), [])
  t.same(reasons({ os: 'Android', osVersion: null }), [], 'a frozen Android version is not held against the device')
  t.same(reasons({ os: 'macOS', osVersion: '10.13', browser: 'Safari', browserVersion: '14', engine: 'WebKit' }), [], 'no macOS gate')
  t.same(reasons({ os: 'ChromeOS', osVersion: null }), [])
  t.same(reasons({ os: null, osVersion: null }), ['unknown_os'])
  t.same(reasons({ os: 'Windows Phone', osVersion: '10' }), ['unsupported_os'])
  t.same(reasons({ os: 'HarmonyOS', osVersion: '5' }), ['unsupported_os'])
})

t.test('names that are Object.prototype members find nothing in the tables', async (t) => {
  t.same(reasons({ os: 'toString', osVersion: '1' }), ['unsupported_os'])
  t.same(reasons({ os: 'constructor', osVersion: null }), ['unsupported_os'])
  t.same(reasons({ browser: 'constructor', browserVersion: '1' }), ['unknown_browser'])
  t.same(reasons({ browser: 'hasOwnProperty', browserVersion: '1' }), ['unknown_browser'])
  t.same(reasons({ browser: 'Chrome', browserVersion: '126', os: '__proto__', osVersion: null }), ['unsupported_os'])
})

t.test('the tables cover the OS and browser names detection produces', async (t) => {
  for (const os of ['iOS', 'iPadOS', 'Android', 'Windows', 'macOS', 'Linux', 'ChromeOS']) t.ok(os in MIN_OS_VERSION, os)
  for (const browser of ['Safari', 'Chrome', 'Edge', 'Firefox', 'Samsung Internet']) t.ok(MIN_BROWSER_VERSION[browser]?.default, browser)
})

t.test('compareVersions compares numerically, component by component', async (t) => {
  t.ok(compareVersions('10', '9') > 0)
  t.ok(compareVersions('14.4.1', '14.5') < 0)
  t.equal(compareVersions('14.5', '14.5.0'), 0)
  t.ok(compareVersions('122', '121.0.1') > 0)
  t.ok(compareVersions('18.17763', '18') > 0)
})
