/**
 * `npm run bench`: the production build (dist/, rebuilt first when missing or older than src/) in its own
 * process on a fresh PostgreSQL database, driven from this process over loopback HTTP. Prints a table and
 * writes bench/out/results.json. Takes about two minutes.
 *
 * Environment: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres, the server on which
 * a database vottery_bench_<pid> is created and dropped), BENCH_SECONDS (length of each HTTP workload,
 * default 8), BENCH_CONCURRENCY (flows, logins or refresh chains in flight at once, default 24),
 * BENCH_CONNECTIONS (autocannon connections for workloads 1 and 2, default 32), BENCH_APP_NODE_ARGS (extra node
 * arguments for the service, e.g. `--cpu-prof --cpu-prof-dir=bench/out/profiles`), BENCH_ONLY (comma-separated
 * workload numbers to run, e.g. `BENCH_ONLY=1,2`; rows 7 are always reported, the warm-up onboardings always run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { constants, publicEncrypt, randomBytes, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Pool, request } from 'undici'
import { pino } from 'pino'
import { ristretto255 } from '@noble/curves/ed25519.js'
import { openDatabase, type DatabaseHandle } from '../src/db/client.js'
import { KeyStore } from '../src/modules/crypto/key-store.js'
import { CryptoOperations } from '../src/modules/crypto/operations.js'
import { randomScalar } from '../src/modules/crypto/primitives/elgamal.js'
import { createSngineTable } from '../test/helper.js'
import { startFakeTwilio, type FakeTwilio } from '../test/fixtures/twilio.js'
import { SoftwareAuthenticator } from '../test/fixtures/authenticator.js'
import { HttpDevice, type HttpReply } from '../test/fixtures/http-device.js'
import { deliveryEnv } from '../test/fixtures/delivery-env.js'
import { startSmtpSink, type SmtpSink } from './smtp-sink.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const OUT_DIR = join(ROOT, 'bench', 'out')
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 24)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
/** Seconds of the autocannon workloads (1 and 2), which settle fast. */
const SHORT_SECONDS = Math.max(3, Math.round(SECONDS * 0.625))
const WARMUP_SECONDS = 2
const ORIGIN = 'http://localhost:3000'
const USER_AGENT = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const SNGINE_PEOPLE = 30_000
const MAX_ERRORS = 50
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((id) => id.trim()).filter(Boolean)) : null
/** Whether workload `id` runs (every one without BENCH_ONLY). */
const runs = (id: string): boolean => ONLY === null || ONLY.has(id)

interface Row {
  id: string
  workload: string
  rate: number
  unit: string
  /** Operations measured. */
  count?: number
  p50?: number
  p99?: number
  errors?: number
  /** CPU milliseconds per operation of the measured process (the service, or the bare Fastify of row 1). */
  cpuApp?: number
  /** CPU milliseconds per operation of the service's PostgreSQL backends. */
  cpuDb?: number
  target?: string
  met?: boolean
  note?: string
}

const rows: Row[] = []
const cleanups: Array<() => Promise<unknown> | unknown> = []
const log = (message: string) => process.stderr.write(`bench: ${message}\n`)

// --- build, database, processes ------------------------------------------------------------------

async function newestMtime(dir: string): Promise<number> {
  let newest = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
  }
  return newest
}

/** dist/ must be the build of the current src/: built here when missing or older. */
async function ensureBuild(): Promise<void> {
  const built = await stat(join(ROOT, 'dist', 'server.js')).then((s) => s.mtimeMs, () => 0)
  const sources = Math.max(await newestMtime(join(ROOT, 'src')), (await stat(join(ROOT, 'tsconfig.json'))).mtimeMs)
  if (built > sources) {
    log('dist/ is up to date')
    return
  }
  log(built === 0 ? 'no dist/: running npm run build' : 'dist/ is older than src/: running npm run build')
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
  if (result.status !== 0) throw new Error('npm run build failed')
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

async function createDatabase(): Promise<string> {
  const { default: postgres } = await import('postgres')
  const name = `vottery_bench_${process.pid}`
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  cleanups.push(async () => {
    const cleanup = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} })
    await cleanup.unsafe(`drop database if exists ${name} with (force)`)
    await cleanup.end()
  })
  const url = new URL(POSTGRES_URL)
  url.pathname = `/${name}`
  return url.toString()
}

interface Child {
  process: ChildProcess
  pid: number
  url: string
  output: () => string
  exited: Promise<number | null>
  stop(): Promise<number | null>
}

/** Spawns `node <script>` with `env`, and resolves once `readyPath` answers 200 (with the ms that took). */
async function startChild(script: string, env: Record<string, string>, readyPath: string): Promise<{ child: Child; readyMs: number }> {
  const port = await freePort()
  const startedAt = performance.now()
  const nodeArgs = script.startsWith('dist/') ? (process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter(Boolean) : []
  const proc = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  proc.stdout!.on('data', (chunk) => { output += String(chunk) })
  proc.stderr!.on('data', (chunk) => { output += String(chunk) })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const child: Child = {
    process: proc,
    pid: proc.pid!,
    url,
    output: () => output,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
  }
  cleanups.push(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${script} exited early:\n${output}`)
    try {
      const reply = await request(`${url}${readyPath}`)
      await reply.body.dump()
      if (reply.statusCode === 200) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${script} not ready in 60 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return { child, readyMs: performance.now() - startedAt }
}

/** VmRSS (now) and VmHWM (peak) of a process, in MB. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100

/** User + system CPU time of a process so far, in ms; NaN once it is gone. */
function cpuTimeOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
  } catch {
    return NaN
  }
}

/**
 * CPU spent by a process (and by the PostgreSQL backends serving the database, when PostgreSQL runs on this
 * machine) during `run`, per operation. On a shared machine this says more than the rate: it does not
 * count the time spent waiting for a core.
 */
async function withCpu<T extends { count: number }>(pid: number, backends: (() => Promise<number[]>) | null, run: () => Promise<T>): Promise<T & { cpuApp: number; cpuDb?: number }> {
  const dbPids = backends ? await backends() : []
  const dbTime = () => dbPids.reduce((sum, p) => sum + cpuTimeOf(p), 0)
  const app0 = cpuTimeOf(pid)
  const db0 = dbTime()
  const result = await run()
  const cpuApp = (cpuTimeOf(pid) - app0) / result.count
  const cpuDb = (dbTime() - db0) / result.count
  return { ...result, cpuApp, ...(backends && Number.isFinite(cpuDb) ? { cpuDb } : {}) }
}

// --- measuring -------------------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

interface LoopResult {
  count: number
  rate: number
  p50: number
  p99: number
  errors: number
}

/**
 * `concurrency` workers each run `op` back to back for `seconds` (a closed loop: a new operation starts when
 * the worker's previous one ends). The rate counts operations finished over the time until the last one did.
 */
async function closedLoop(name: string, seconds: number, concurrency: number, op: (worker: number, round: number) => Promise<void>): Promise<LoopResult> {
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const worker = async (w: number) => {
    for (let round = 0; performance.now() < deadline && errors < MAX_ERRORS; round++) {
      const t0 = performance.now()
      try {
        await op(w, round)
        latencies.push(performance.now() - t0)
      } catch (error) {
        errors++
        if (errors <= 3) log(`${name}: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return { count: latencies.length, rate: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors }
}

async function cannon(url: string, headers: Record<string, string> = {}) {
  const result = await autocannon({ url, connections: CONNECTIONS, pipelining: 1, duration: SHORT_SECONDS, headers })
  return {
    count: result.requests.total,
    rate: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  }
}

function expect(reply: HttpReply, status: number, what: string): HttpReply {
  if (reply.statusCode !== status) throw new Error(`${what}: ${reply.statusCode} ${reply.body.slice(0, 200)}`)
  return reply
}

// --- the service's workloads ---------------------------------------------------------------------------

interface Identity {
  device: HttpDevice
  authenticator: SoftwareAuthenticator
  accessToken: string
}

class Onboarding {
  private next = 1

  constructor(
    private readonly app: string,
    private readonly pool: Pool,
    private readonly smtp: SmtpSink,
    private readonly twilio: FakeTwilio,
  ) {}

  /** Steps 1 to 3 for the next unused Sngine person: email code, SMS code, passkey. */
  async run(): Promise<Identity> {
    const n = this.next++
    if (n > SNGINE_PEOPLE) throw new Error('out of Sngine people: raise SNGINE_PEOPLE')
    const { email, phone } = person(n)
    const device = new HttpDevice({ dispatcher: this.pool, headers: { origin: ORIGIN, 'user-agent': USER_AGENT } })
    const authenticator = new SoftwareAuthenticator({ origin: ORIGIN })
    const url = (path: string) => `${this.app}${path}`

    const sent = expect(await device.post(url('/api/auth/send-otp'), { channel: 'email', email }), 202, 'send-otp email')
    const flowId = sent.json<{ flowId: string }>().flowId
    const emailCode = this.smtp.code(email)
    if (!emailCode) throw new Error(`no mail reached person ${n}`)
    expect(await device.post(url('/api/auth/verify-otp'), { flowId, channel: 'email', code: emailCode }), 200, 'verify-otp email')

    expect(await device.post(url('/api/auth/send-otp'), { channel: 'sms', flowId, phone }), 202, 'send-otp sms')
    const smsCode = this.twilio.lastCode(phone)
    if (!smsCode) throw new Error(`no SMS reached person ${n}`)
    expect(await device.post(url('/api/auth/verify-otp'), { flowId, channel: 'sms', code: smsCode }), 200, 'verify-otp sms')

    const options = expect(await device.post(url('/api/auth/biometric/options'), { flowId }), 200, 'biometric/options')
    const credential = authenticator.createRegistrationResponse(options.json() as never)
    const captured = expect(await device.post(url('/api/auth/capture-biometric'), { flowId, credential }), 201, 'capture-biometric')
    return { device, authenticator, accessToken: captured.json<{ accessToken: string }>().accessToken }
  }
}

function person(n: number): { email: string; phone: string } {
  return { email: `bench${n}@example.com`, phone: `+1415${String(2_000_000 + n)}` }
}

async function seedSngine(database: DatabaseHandle): Promise<void> {
  await createSngineTable(database)
  await database.query(
    `insert into public.users (user_email, user_phone, user_firstname, user_lastname)
     select 'bench' || i || '@example.com', '+1415' || (2000000 + i), 'Bench', 'Person ' || i from generate_series(1, $1::int) as i`,
    [SNGINE_PEOPLE],
  )
}

// --- crypto in process -------------------------------------------------------------------------------

/** Operations per second of `fn` over about `ms`. */
async function opsPerSecond(fn: () => unknown, ms: number): Promise<{ ops: number; seconds: number }> {
  let ops = 0
  const started = performance.now()
  const until = started + ms
  while (performance.now() < until) {
    for (let i = 0; i < 8; i++) await fn()
    ops += 8
  }
  return { ops, seconds: (performance.now() - started) / 1000 }
}

/** Service and raw alternate in short slices, so a neighbour's burst on a shared machine hits both alike. */
async function compare(service: () => unknown, raw: () => unknown, totalMs: number): Promise<{ service: number; raw: number }> {
  const totals = { service: { ops: 0, seconds: 0 }, raw: { ops: 0, seconds: 0 } }
  const slices = 6
  await service()
  await raw()
  for (let i = 0; i < slices; i++) {
    for (const [name, fn] of [['service', service], ['raw', raw]] as const) {
      const slice = await opsPerSecond(fn, totalMs / slices / 2)
      totals[name].ops += slice.ops
      totals[name].seconds += slice.seconds
    }
  }
  return { service: totals.service.ops / totals.service.seconds, raw: totals.raw.ops / totals.raw.seconds }
}

async function cryptoWorkloads(databaseUrl: string, masterKey: string): Promise<void> {
  const database = await openDatabase({ url: databaseUrl, poolMax: 2 })
  cleanups.push(() => database.close())
  const keys = await KeyStore.open({ database, masterKey: Buffer.from(masterKey, 'base64'), log: pino({ level: 'silent' }) })
  const operations = new CryptoOperations(keys)
  const data = randomBytes(32)

  const elgamal = await keys.active('ELGAMAL-RISTRETTO255')
  if (elgamal.material.kind !== 'elgamal') throw new Error('not an ElGamal key')
  const G = ristretto255.Point.BASE
  const X = elgamal.material.publicKey
  const scalars = Array.from({ length: 256 }, () => randomScalar())
  let s = 0
  const eg = await compare(
    () => operations.encryptValue(s++ & 1023),
    () => { const r = scalars[s++ & 255]!; G.multiply(r); X.multiply(r) },
    3000,
  )
  cryptoRow('6a', 'ElGamal encrypt: service vs two raw ristretto255 multiplications', eg, 0.45)

  const rsa = await keys.active('RSA-OAEP-256')
  if (rsa.material.kind !== 'rsa') throw new Error('not an RSA key')
  const rsaKey = { key: rsa.material.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
  cryptoRow('6b', 'RSA-OAEP-256 encrypt (32 bytes): service vs node:crypto publicEncrypt',
    await compare(() => operations.encryptData(data), () => publicEncrypt(rsaKey, data), 2000))

  const ed = await keys.active('Ed25519')
  if (ed.material.kind !== 'ed25519') throw new Error('not an Ed25519 key')
  const edKey = ed.material.privateKey
  cryptoRow('6c', 'Ed25519 sign (32 bytes): service vs node:crypto sign',
    await compare(() => operations.sign(data), () => sign(null, data, edKey), 2000))
}

function cryptoRow(id: string, workload: string, result: { service: number; raw: number }, target?: number) {
  const ratio = result.service / result.raw
  rows.push({
    id,
    workload,
    rate: result.service,
    unit: 'ops/s',
    note: `raw ${fmt(result.raw)} ops/s, service/raw ${(ratio * 100).toFixed(0)}%`,
    ...(target !== undefined ? { target: `≥ ${target * 100}% of raw`, met: ratio >= target } : {}),
  })
}

// --- report ------------------------------------------------------------------------------------------

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || Number.isNaN(value)) return '-'
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits || (value < 10 ? 2 : 1))
}

function printTable(): void {
  const header = ['#', 'workload', 'rate', 'p50 ms', 'p99 ms', 'errors', 'CPU ms/op app', 'db', 'target', 'met', 'note']
  const lines = rows.map((r) => [
    r.id, r.workload, `${fmt(r.rate)} ${r.unit}`, fmt(r.p50, 1), fmt(r.p99, 1), r.errors === undefined ? '' : String(r.errors),
    r.cpuApp === undefined ? '' : r.cpuApp.toFixed(2), r.cpuDb === undefined ? '' : r.cpuDb.toFixed(2),
    r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO', r.note ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const render = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  console.log(render(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const line of lines) console.log(render(line))
}

// --- main -----------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date()
  const load = loadavg()
  await ensureBuild()
  const databaseUrl = await createDatabase()
  const seedHandle = await openDatabase({ url: databaseUrl, poolMax: 1 })
  await seedSngine(seedHandle)
  await seedHandle.close()

  const smtp = await startSmtpSink()
  cleanups.push(() => smtp.close())
  const twilio = await startFakeTwilio()
  cleanups.push(() => twilio.close())
  const dataDir = await mkdtemp(join(tmpdir(), 'vottery-bench-'))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const masterKey = randomBytes(32).toString('base64')
  const appEnv: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    VOTTERY_MASTER_KEY: masterKey,
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: ORIGIN,
    CORS_ORIGINS: ORIGIN,
    ...deliveryEnv(smtp.url, twilio),
    // Every flow comes from 127.0.0.1: the per-address caps and limits would measure themselves.
    RATE_LIMIT_PER_MINUTE: '10000000',
    OTP_SENDS_PER_IP_PER_HOUR: '1000000',
    OTP_SENDS_PER_DESTINATION_PER_HOUR: '100000',
    // Load shedding would turn a slow moment of a shared machine into errors: the bench measures throughput.
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  }

  // First start: migrations and keys. Then a real cold start on the migrated database.
  const first = await startChild('dist/server.js', appEnv, '/health/ready')
  log(`first start (migrations, keys) ready in ${first.readyMs.toFixed(0)} ms`)
  await first.child.stop()
  const { child: app, readyMs } = await startChild('dist/server.js', appEnv, '/health/ready')
  log(`cold start ready in ${readyMs.toFixed(0)} ms`)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idle = await memoryOf(app.pid)

  // 1. The ceiling, in its own process, while the service idles.
  let ceiling: { rate: number } | null = null
  if (runs('1')) {
    const hello = await startChild('bench/hello-server.mjs', {}, '/')
    log(`1. bare Fastify, ${SHORT_SECONDS} s`)
    const measured = await withCpu(hello.child.pid, null, () => cannon(`${hello.child.url}/`))
    await hello.child.stop()
    rows.push({ id: '1', workload: 'ceiling: bare Fastify hello world (separate process)', unit: 'req/s', ...measured })
    ceiling = measured
  }

  // The service's PostgreSQL backends, for their CPU time (only when PostgreSQL runs on this machine).
  const { default: postgres } = await import('postgres')
  const monitor = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} })
  cleanups.push(() => monitor.end())
  const databaseName = new URL(databaseUrl).pathname.slice(1)
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(POSTGRES_URL).hostname)
  const backends = local
    ? async () => (await monitor`select pid from pg_stat_activity where datname = ${databaseName} and application_name = 'vottery'`).map((row) => Number(row.pid))
    : null

  const pool = new Pool(app.url, { connections: CONCURRENCY, pipelining: 1 })
  cleanups.push(() => pool.close())
  const onboarding = new Onboarding(app.url, pool, smtp, twilio)
  const identities: Identity[] = []
  const onboard = async () => { identities.push(await onboarding.run()) }

  log(`warm-up, ${WARMUP_SECONDS} s`)
  const warm = await closedLoop('warm-up', WARMUP_SECONDS, CONCURRENCY, onboard)
  if (warm.errors > 0) throw new Error(`warm-up onboarding failed (see above):\n${app.output().slice(-2000)}`)

  // 3. Onboarding: every flow a new person, end to end.
  if (runs('3')) {
    log(`3. onboarding, ${SECONDS} s, ${CONCURRENCY} flows at once`)
    twilio.messages.length = 0
    const flows = await withCpu(app.pid, backends, () => closedLoop('onboarding', SECONDS, CONCURRENCY, onboard))
    rows.push({ id: '3', workload: `onboarding flows (email OTP + SMS OTP + passkey), ${CONCURRENCY} at once`, unit: 'flows/s', ...flows,
      target: '≥ 350 flows/s', met: flows.rate >= 350, note: 'p50/p99: whole flow, 6 requests' })
    twilio.messages.length = 0
  }

  // 2. The guard path: a valid bearer token on GET /api/auth/status.
  if (runs('2')) {
    const someone = identities[0]!
    log(`2. GET /api/auth/status with a bearer token, ${SHORT_SECONDS} s`)
    const guard = await withCpu(app.pid, backends, () => cannon(`${app.url}/api/auth/status`, {
      authorization: `Bearer ${someone.accessToken}`,
      cookie: `vt_device=${someone.device.cookies.get('vt_device')}`,
    }))
    const guardShare = ceiling === null ? null : guard.rate / ceiling.rate
    rows.push({ id: '2', workload: 'GET /api/auth/status with a bearer token (guard path)', unit: 'req/s', ...guard,
      target: '≥ 50% of (1)', ...(guardShare === null ? {} : { met: guardShare >= 0.5, note: `${(guardShare * 100).toFixed(0)}% of (1)` }) })
  }

  // Each worker keeps to its own people, so no two requests ever share a device or a refresh chain.
  const mine = (worker: number, round: number): Identity => {
    const own = Math.floor((identities.length - 1 - worker) / CONCURRENCY) + 1
    return identities[worker + (round % own) * CONCURRENCY]!
  }
  if ((runs('4') || runs('5')) && identities.length < CONCURRENCY) throw new Error('fewer people onboarded than workers')

  // 4. Passkey sign-in: options, then the assertion.
  if (runs('4')) {
    log(`4. passkey logins, ${SECONDS} s`)
    const logins = await withCpu(app.pid, backends, () => closedLoop('passkey login', SECONDS, CONCURRENCY, async (worker, round) => {
      const who = mine(worker, round)
      const options = expect(await who.device.post(`${app.url}/api/auth/passkey/options`, {}), 200, 'passkey/options')
      const credential = who.authenticator.createAuthenticationResponse(options.json() as never)
      expect(await who.device.post(`${app.url}/api/auth/passkey/verify`, { credential }), 200, 'passkey/verify')
    }))
    rows.push({ id: '4', workload: 'passkey logins (options + verify)', unit: 'logins/s', ...logins,
      target: '≥ 2,400/s', met: logins.rate >= 2400, note: 'p50/p99: whole login, 2 requests' })
  }

  // 5. Refresh: each one presents the cookie the previous one of its chain returned.
  if (runs('5')) {
    log(`5. refreshes, ${SECONDS} s, ${identities.length} chains`)
    const refreshes = await withCpu(app.pid, backends, () => closedLoop('refresh', SECONDS, CONCURRENCY, async (worker, round) => {
      const who = mine(worker, round)
      expect(await who.device.post(`${app.url}/api/auth/refresh-token`, undefined), 200, 'refresh-token')
    }))
    rows.push({ id: '5', workload: `refreshes (rotating cookie, ${identities.length} chains, ${CONCURRENCY} at once)`, unit: 'refreshes/s', ...refreshes,
      target: '≥ 2,400/s', met: refreshes.rate >= 2400 })
  }

  // 7. Memory and start.
  const after = await memoryOf(app.pid)
  const exitCode = await app.stop()
  rows.push({ id: '7a', workload: 'idle RSS after start', rate: idle.rss, unit: 'MB', target: '≤ 120 MB', met: idle.rss <= 120 })
  rows.push({ id: '7b', workload: 'peak RSS under the load above (VmHWM)', rate: after.peak, unit: 'MB', target: '≤ 300 MB', met: after.peak <= 300 })
  rows.push({ id: '7c', workload: 'cold start: spawn to /health/ready 200 (migrated database)', rate: readyMs, unit: 'ms',
    target: '≤ 1,500 ms', met: readyMs <= 1500, note: `first start with migrations and key generation: ${fmt(first.readyMs)} ms` })
  if (exitCode !== 0) log(`the service exited with ${exitCode} on SIGTERM`)

  // 6. Crypto, in this process, once the service is stopped.
  if (runs('6')) {
    log('6. crypto, in process')
    await cryptoWorkloads(databaseUrl, masterKey)
  }

  rows.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
  console.log(`\nVottery benchmark: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average at start ${load.map((l) => l.toFixed(2)).join(' ')}, node ${process.version}\n`)
  printTable()
  const failed = rows.filter((r) => (r.errors ?? 0) > 0)
  await mkdir(OUT_DIR, { recursive: true })
  await writeFile(join(OUT_DIR, 'results.json'), JSON.stringify({
    startedAt: startedAt.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverageAtStart: load, node: process.version },
    settings: { seconds: SECONDS, shortSeconds: SHORT_SECONDS, concurrency: CONCURRENCY, connections: CONNECTIONS, sngine: SNGINE_PEOPLE },
    results: rows,
  }, null, 2) + '\n')
  console.log(`\nwritten to bench/out/results.json${failed.length > 0 ? `; workloads with errors: ${failed.map((r) => r.id).join(', ')}` : ''}`)
  return failed.length > 0 || exitCode !== 0 ? 1 : 0
}

async function cleanup(): Promise<void> {
  for (const fn of cleanups.reverse()) {
    try { await fn() } catch (error) { log(`cleanup: ${error instanceof Error ? error.message : String(error)}`) }
  }
  cleanups.length = 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { cleanup().finally(() => process.exit(130)) })
}

main().then(
  async (code) => { await cleanup(); process.exit(code) },
  async (error: unknown) => {
    log(error instanceof Error ? error.stack ?? error.message : String(error))
    await cleanup()
    process.exit(1)
  },
)
