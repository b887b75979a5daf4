import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.js'

t.test('defaults give a working development configuration', async (t) => {
  const config = loadConfig({})
  t.equal(config.port, 3000)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.database.url, undefined, 'no DATABASE_URL means embedded PGlite')
  t.equal(config.mail.transport, 'log')
  t.equal(config.sms.transport, 'log')
  t.equal(config.demoUi, true)
  t.same(config.webauthn.origins, ['http://localhost:3000'])
  t.equal(config.tokens.accessTtl, 600)
  t.equal(config.otp.sendsPerDestinationPerHour, 5)
  t.equal(config.otp.sendsPerIpPerHour, 30)
  t.equal(config.cookie.sameSite, 'strict')
  t.equal(config.cookie.secure, false)
})

t.test('an invalid variable stops the start, naming it', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), /PORT/)
  t.throws(() => loadConfig({ LOG_LEVEL: 'chatty' }), /LOG_LEVEL/)
  t.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/)
  t.throws(() => loadConfig({ VOTTERY_MASTER_KEY: 'short' }), /VOTTERY_MASTER_KEY/)
  t.throws(() => loadConfig({ SMS_ALLOWED_COUNTRIES: 'usa' }), /SMS_ALLOWED_COUNTRIES/)
  t.throws(() => loadConfig({ TRUST_PROXY: 'true' }), /TRUST_PROXY/)
  t.throws(() => loadConfig({ CORS_ORIGINS: 'http://ok.example, not an origin' }), /CORS_ORIGINS/)
  t.throws(() => loadConfig({ REFRESH_IDLE_TTL: '100', REFRESH_ABSOLUTE_TTL: '50' }), /REFRESH_IDLE_TTL/)
})

t.test('a secret in an invalid variable is named, not echoed', async (t) => {
  const secret = 'postgres-but-not://hunter2@db'
  try {
    loadConfig({ DATABASE_URL: secret })
    t.fail('should throw')
  } catch (error) {
    t.type(error, ConfigError)
    t.match((error as Error).message, /DATABASE_URL/)
    t.notMatch((error as Error).message, /hunter2/)
  }
})

t.test('production refuses development conveniences and names what is missing', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /DATABASE_URL.*VOTTERY_MASTER_KEY.*WEBAUTHN_RP_ID/)
  const complete = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://db/vottery',
    VOTTERY_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    WEBAUTHN_RP_ID: 'vottery.example',
    WEBAUTHN_ORIGINS: 'https://vottery.example',
    CORS_ORIGINS: 'https://vottery.example',
    SMTP_URL: 'smtp://mail.example:587',
    TWILIO_ACCOUNT_SID: 'AC123',
    TWILIO_AUTH_TOKEN: 'secret',
    TWILIO_FROM: '+15005550006',
  }
  const config = loadConfig(complete)
  t.equal(config.production, true)
  t.equal(config.demoUi, false, 'demo page off by default in production')
  t.equal(config.cookie.secure, true)
  t.equal(loadConfig({ ...complete, DEMO_UI: 'true' }).demoUi, true, 'explicitly configured demo page is allowed')
  t.throws(() => loadConfig({ ...complete, MAIL_TRANSPORT: 'log' }), /MAIL_TRANSPORT=log/)
  t.throws(() => loadConfig({ ...complete, SMS_TRANSPORT: 'log' }), /SMS_TRANSPORT=log/)
  t.throws(() => loadConfig({ ...complete, SMTP_URL: '' }), /SMTP_URL/)
  t.throws(() => loadConfig({ ...complete, TWILIO_FROM: '' }), /TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID/)
  t.ok(loadConfig({ ...complete, TWILIO_FROM: '', TWILIO_MESSAGING_SERVICE_SID: 'MG1' }))
  t.throws(() => loadConfig({ ...complete, SMS_TRANSPORT: 'twilio-verify' }), /TWILIO_VERIFY_SERVICE_SID/)
})

t.test('lists and proxies are parsed', async (t) => {
  const config = loadConfig({ SMS_ALLOWED_COUNTRIES: 'US, GB', TRUST_PROXY: '2', CORS_ORIGINS: 'http://a.example,https://b.example:8443' })
  t.same(config.sms.allowedCountries, ['US', 'GB'])
  t.equal(config.trustProxy, 2)
  t.same(config.corsOrigins, ['http://a.example', 'https://b.example:8443'])
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1'])
})
