import t from 'tap'
import { build } from '../../helper.js'

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'
const OLD_CHROME = 'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.112 Safari/537.36'

t.test('POST /api/devices/compatibility needs no token and explains a no', async (t) => {
  const { app } = await build(t)
  const yes = await app.inject({ method: 'POST', url: '/api/devices/compatibility', payload: { userAgent: IPHONE, platformAuthenticator: true } })
  t.equal(yes.statusCode, 200)
  t.same(yes.json(), { compatible: true, device: { type: 'mobile', os: 'iOS', browser: 'Safari' }, reasons: [] })
  t.match(yes.headers['accept-ch'], /Sec-CH-UA-Platform-Version/)

  const old = await app.inject({ method: 'POST', url: '/api/devices/compatibility', payload: { userAgent: OLD_CHROME, platformAuthenticator: false } })
  t.equal(old.json().compatible, false)
  t.ok(old.json().reasons.includes('no_platform_authenticator'))
  t.ok(old.json().reasons.includes('browser_too_old'))

  const own = await app.inject({
    method: 'POST', url: '/api/devices/compatibility', payload: { platformAuthenticator: true },
    headers: { 'user-agent': IPHONE },
  })
  t.match(own.json(), { compatible: true, device: { os: 'iOS' } }, "without userAgent the request's own agent is used")

  const bad = await app.inject({ method: 'POST', url: '/api/devices/compatibility', payload: { userAgent: IPHONE } })
  t.match(bad.json(), { code: 'validation_failed', details: { field: 'body.platformAuthenticator' } })
})

t.test('/demo is served when DEMO_UI is on, with its script and the WebAuthn browser bundle', async (t) => {
  const { app } = await build(t, { env: { DEMO_UI: 'true' } })
  t.equal((await app.inject({ method: 'GET', url: '/demo' })).statusCode, 302)
  const page = await app.inject({ method: 'GET', url: '/demo/' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /Use fingerprint \/ face/)
  t.equal((await app.inject({ method: 'GET', url: '/demo/demo.js' })).statusCode, 200)
  const bundle = await app.inject({ method: 'GET', url: '/demo/vendor/index.umd.min.js' })
  t.equal(bundle.statusCode, 200)
  t.match(bundle.body, /SimpleWebAuthnBrowser/)
  t.equal((await app.inject({ method: 'GET', url: '/demo/vendor/../../package.json' })).statusCode, 404)

  const off = await build(t, { env: { DEMO_UI: 'false' } })
  t.equal((await off.app.inject({ method: 'GET', url: '/demo/' })).statusCode, 404, 'off means off')
})
