import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'

/**
 * Every environment variable the service reads, in one schema. Values arrive as
 * strings; `loadConfig` converts, checks and turns them into the typed `Config`.
 * Nothing else in the code base reads `process.env`.
 */
const Bool = Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0')])
const Seconds = (def: number) => Type.Integer({ minimum: 1, maximum: 31_536_000, default: def })
const Millis = (def: number) => Type.Integer({ minimum: 1, maximum: 600_000, default: def })

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent'),
  ], { default: 'info' }),

  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, maximum: 500, default: 10 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000 }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  SNGINE_DATABASE_URL: Type.Optional(Type.String({ pattern: '^(postgres(ql)?|mysql|mariadb)://' })),
  SNGINE_USERS_TABLE: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$', default: 'users' }),
  SNGINE_GENDER_MAP: Type.String({ pattern: '^[^:,]+:[a-z_]+(,[^:,]+:[a-z_]+)*$', default: '1:male,2:female,3:other,male:male,female:female,other:other' }),
  SNGINE_SYNC_INTERVAL: Type.Integer({ minimum: 0, maximum: 86_400, default: 300 }),

  VOTTERY_MASTER_KEY: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' })),

  CORS_ORIGINS: Type.Optional(Type.String()),
  COOKIE_SAMESITE: Type.Union([Type.Literal('strict'), Type.Literal('lax'), Type.Literal('none')], { default: 'strict' }),
  WEBAUTHN_RP_ID: Type.Optional(Type.String({ minLength: 1 })),
  WEBAUTHN_RP_NAME: Type.String({ minLength: 1, default: 'Vottery' }),
  WEBAUTHN_ORIGINS: Type.Optional(Type.String()),

  JWT_ISSUER: Type.String({ minLength: 1, default: 'vottery' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'vottery-api' }),
  ACCESS_TOKEN_TTL: Seconds(600),
  REFRESH_IDLE_TTL: Seconds(604_800),
  REFRESH_ABSOLUTE_TTL: Seconds(2_592_000),

  MAIL_TRANSPORT: Type.Optional(Type.Union([Type.Literal('smtp'), Type.Literal('log')])),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  SMTP_TIMEOUT_MS: Millis(5000),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Vottery <no-reply@vottery.local>' }),
  MAIL_UNKNOWN_ACCOUNT_NOTICE: Type.Optional(Bool),
  SNGINE_SIGNUP_URL: Type.Optional(Type.String({ pattern: '^https?://' })),

  SMS_TRANSPORT: Type.Optional(Type.Union([Type.Literal('twilio'), Type.Literal('twilio-verify'), Type.Literal('log')])),
  SMS_TIMEOUT_MS: Millis(5000),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_FROM: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_MESSAGING_SERVICE_SID: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_VERIFY_SERVICE_SID: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_API_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  PHONE_DEFAULT_REGION: Type.String({ pattern: '^[A-Z]{2}$', default: 'US' }),
  SMS_ALLOWED_COUNTRIES: Type.String({ pattern: '^([A-Z]{2}(,\\s*[A-Z]{2})*)?$', default: '' }),

  OTP_TTL: Seconds(600),
  FLOW_TTL: Seconds(900),
  OTP_RESEND_COOLDOWN: Seconds(30),
  OTP_SENDS_PER_DESTINATION_PER_HOUR: Type.Integer({ minimum: 1, maximum: 100_000, default: 5 }),
  OTP_SENDS_PER_IP_PER_HOUR: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 300 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  TRUST_PROXY: Type.Optional(Type.String()),
  BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }),

  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  PRESSURE_MAX_HEAP_MB: Type.Integer({ minimum: 0, maximum: 65_536, default: 0 }),
  DEMO_UI: Type.Optional(Bool),
  GEOIP_DB_PATH: Type.Optional(Type.String({ minLength: 1 })),
})
export type Env = Static<typeof EnvSchema>

export interface Config {
  env: Env['NODE_ENV']
  production: boolean
  port: number
  host: string
  logLevel: Env['LOG_LEVEL']
  database: {
    url?: string
    poolMax: number
    dataDir: string
    /** Opening a connection, TCP and startup together. */
    connectTimeoutMs: number
    /** Longest statement (PostgreSQL's statement_timeout); a connection silent this long plus a margin is dropped. */
    statementTimeoutMs: number
  }
  sngine: { url?: string; usersTable: string; genderMap: string; syncIntervalSeconds: number }
  masterKey?: string
  corsOrigins: string[]
  cookie: { sameSite: Env['COOKIE_SAMESITE']; secure: boolean }
  webauthn: { rpId: string; rpName: string; origins: string[] }
  tokens: { issuer: string; audience: string; accessTtl: number; refreshIdleTtl: number; refreshAbsoluteTtl: number }
  mail: { transport: 'smtp' | 'log'; smtpUrl?: string; timeoutMs: number; from: string; noticeUnknownAccount: boolean; sngineSignupUrl?: string }
  sms: {
    transport: 'twilio' | 'twilio-verify' | 'log'
    timeoutMs: number
    accountSid?: string
    authToken?: string
    from?: string
    messagingServiceSid?: string
    verifyServiceSid?: string
    apiBaseUrl?: string
    defaultRegion: string
    allowedCountries: string[]
  }
  otp: { ttl: number; flowTtl: number; resendCooldown: number; sendsPerDestinationPerHour: number; sendsPerIpPerHour: number }
  rateLimitPerMinute: number
  redisUrl?: string
  trustProxy: boolean | number | string[]
  bodyLimit: number
  metricsToken?: string
  /** Back-pressure limits; 0 turns a limit off. */
  pressure: { maxEventLoopDelayMs: number; maxHeapBytes: number }
  demoUi: boolean
  geoipDbPath?: string
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const list = (value: string | undefined) =>
  (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0)
const truthy = (value: string | undefined) => value === 'true' || value === '1'

function parseTrustProxy(value: string | undefined): Config['trustProxy'] {
  if (value === undefined || value.trim() === '' || value === 'false') return false
  if (value === 'true') throw new ConfigError('TRUST_PROXY: "true" would trust any client; give a hop count or CIDRs')
  if (/^\d+$/.test(value)) return Number(value)
  return list(value)
}

/** Reads the environment (a plain record, so tests pass their own) into a typed, checked configuration. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const withDefaults = Value.Default(EnvSchema, raw)
  const converted = Value.Convert(EnvSchema, withDefaults)
  const errors = Value.Errors(EnvSchema, converted)
  if (errors.length > 0) {
    const names = [...new Set(errors.map((e) => e.instancePath.replace(/^\//, '') || String((e.params as { requiredProperties?: string[] }).requiredProperties ?? '')))]
    throw new ConfigError(`invalid configuration: ${names.map((n) => `${n} (${describe(n, source[n])})`).join(', ')}`)
  }
  const env = converted as Env
  const production = env.NODE_ENV === 'production'
  const missing: string[] = []
  const refuse = (message: string) => { throw new ConfigError(message) }

  const mailTransport = env.MAIL_TRANSPORT ?? (production || env.SMTP_URL ? 'smtp' : 'log')
  const smsTransport = env.SMS_TRANSPORT ?? (production || env.TWILIO_ACCOUNT_SID ? 'twilio' : 'log')
  if (production) {
    if (mailTransport === 'log') refuse('MAIL_TRANSPORT=log prints codes to the log and is refused in production')
    if (smsTransport === 'log') refuse('SMS_TRANSPORT=log prints codes to the log and is refused in production')
    if (!env.DATABASE_URL) missing.push('DATABASE_URL')
    if (!env.VOTTERY_MASTER_KEY) missing.push('VOTTERY_MASTER_KEY')
    if (!env.WEBAUTHN_RP_ID) missing.push('WEBAUTHN_RP_ID')
    if (!env.WEBAUTHN_ORIGINS) missing.push('WEBAUTHN_ORIGINS')
    if (!env.CORS_ORIGINS) missing.push('CORS_ORIGINS')
  }
  if (mailTransport === 'smtp' && !env.SMTP_URL) missing.push('SMTP_URL')
  if (smsTransport !== 'log') {
    if (!env.TWILIO_ACCOUNT_SID) missing.push('TWILIO_ACCOUNT_SID')
    if (!env.TWILIO_AUTH_TOKEN) missing.push('TWILIO_AUTH_TOKEN')
    if (smsTransport === 'twilio' && !env.TWILIO_FROM && !env.TWILIO_MESSAGING_SERVICE_SID) missing.push('TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID')
    if (smsTransport === 'twilio-verify' && !env.TWILIO_VERIFY_SERVICE_SID) missing.push('TWILIO_VERIFY_SERVICE_SID')
  }
  if (missing.length > 0) refuse(`missing configuration: ${missing.join(', ')}`)

  const port = env.PORT
  const defaultOrigin = `http://localhost:${port === 0 ? 3000 : port}`
  const webauthnOrigins = env.WEBAUTHN_ORIGINS ? list(env.WEBAUTHN_ORIGINS) : [defaultOrigin]
  const corsOrigins = env.CORS_ORIGINS ? list(env.CORS_ORIGINS) : webauthnOrigins
  for (const origin of [...webauthnOrigins, ...corsOrigins]) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) refuse(`invalid configuration: CORS_ORIGINS / WEBAUTHN_ORIGINS entry "${origin}" is not an origin (scheme://host[:port])`)
  }
  if (env.REFRESH_IDLE_TTL > env.REFRESH_ABSOLUTE_TTL) refuse('invalid configuration: REFRESH_IDLE_TTL exceeds REFRESH_ABSOLUTE_TTL')
  if (env.COOKIE_SAMESITE === 'none' && !production && !webauthnOrigins.every((o) => o.startsWith('https://'))) {
    refuse('invalid configuration: COOKIE_SAMESITE=none needs Secure cookies, so https origins')
  }

  return {
    env: env.NODE_ENV,
    production,
    port,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    database: {
      url: env.DATABASE_URL,
      poolMax: env.DATABASE_POOL_MAX,
      dataDir: env.DATA_DIR,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    sngine: { url: env.SNGINE_DATABASE_URL, usersTable: env.SNGINE_USERS_TABLE, genderMap: env.SNGINE_GENDER_MAP, syncIntervalSeconds: env.SNGINE_SYNC_INTERVAL },
    masterKey: env.VOTTERY_MASTER_KEY,
    corsOrigins,
    cookie: {
      sameSite: env.COOKIE_SAMESITE,
      secure: production || env.COOKIE_SAMESITE === 'none' || webauthnOrigins.every((o) => o.startsWith('https://')),
    },
    webauthn: { rpId: env.WEBAUTHN_RP_ID ?? 'localhost', rpName: env.WEBAUTHN_RP_NAME, origins: webauthnOrigins },
    tokens: {
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTtl: env.ACCESS_TOKEN_TTL,
      refreshIdleTtl: env.REFRESH_IDLE_TTL,
      refreshAbsoluteTtl: env.REFRESH_ABSOLUTE_TTL,
    },
    mail: {
      transport: mailTransport,
      smtpUrl: env.SMTP_URL,
      timeoutMs: env.SMTP_TIMEOUT_MS,
      from: env.MAIL_FROM,
      noticeUnknownAccount: truthy(env.MAIL_UNKNOWN_ACCOUNT_NOTICE),
      sngineSignupUrl: env.SNGINE_SIGNUP_URL,
    },
    sms: {
      transport: smsTransport,
      timeoutMs: env.SMS_TIMEOUT_MS,
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      from: env.TWILIO_FROM,
      messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
      verifyServiceSid: env.TWILIO_VERIFY_SERVICE_SID,
      apiBaseUrl: env.TWILIO_API_BASE_URL?.replace(/\/+$/, ''),
      defaultRegion: env.PHONE_DEFAULT_REGION,
      allowedCountries: list(env.SMS_ALLOWED_COUNTRIES),
    },
    otp: {
      ttl: env.OTP_TTL,
      flowTtl: env.FLOW_TTL,
      resendCooldown: env.OTP_RESEND_COOLDOWN,
      sendsPerDestinationPerHour: env.OTP_SENDS_PER_DESTINATION_PER_HOUR,
      sendsPerIpPerHour: env.OTP_SENDS_PER_IP_PER_HOUR,
    },
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    redisUrl: env.REDIS_URL,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    bodyLimit: env.BODY_LIMIT,
    metricsToken: env.METRICS_TOKEN,
    pressure: { maxEventLoopDelayMs: env.PRESSURE_MAX_EVENT_LOOP_DELAY_MS, maxHeapBytes: env.PRESSURE_MAX_HEAP_MB * 1024 * 1024 },
    demoUi: env.DEMO_UI === undefined ? !production : truthy(env.DEMO_UI),
    geoipDbPath: env.GEOIP_DB_PATH,
  }
}

function describe(name: string, value: string | undefined): string {
  if (value === undefined || value === '') return 'missing'
  // Secrets are named but never echoed.
  if (/KEY|TOKEN|SECRET|PASSWORD|URL/.test(name)) return 'invalid value'
  return `invalid value ${JSON.stringify(value.slice(0, 40))}`
}
