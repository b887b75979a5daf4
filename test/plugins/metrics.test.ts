import t from 'tap'
import { build } from '../helper.js'

t.test('/metrics speaks Prometheus text and counts requests by route and status', async (t) => {
  const { app } = await build(t)
  await app.inject({ method: 'GET', url: '/health/live' })
  await app.inject({ method: 'GET', url: '/nowhere' })
  app.metrics.otpSent.inc({ channel: 'email' })
  const reply = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(reply.statusCode, 200)
  t.match(reply.headers['content-type'], /text\/plain/)
  t.match(reply.body, /vottery_http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*status="200"/)
  t.match(reply.body, /vottery_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1/)
  t.match(reply.body, /vottery_otp_sent_total\{channel="email"\} 1/)
  t.match(reply.body, /vottery_process_resident_memory_bytes/)
})

t.test('METRICS_TOKEN guards /metrics', async (t) => {
  const { app } = await build(t, { env: { METRICS_TOKEN: 'metrics-token-0123456789' } })
  const none = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'unauthorized')
  const wrong = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456780' } })
  t.equal(wrong.statusCode, 401)
  const right = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } })
  t.equal(right.statusCode, 200)
})

t.test('under pressure the service sheds load with 503 service_unavailable and Retry-After', async (t) => {
  const { app } = await build(t, { env: { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '20' } })
  // Block the event loop for longer than under-pressure's one-second sample, so its overdue sampler
  // (scheduled before our short timer) measures the lag before the request arrives.
  const until = Date.now() + 1500
  while (Date.now() < until) { /* busy on purpose */ }
  await new Promise((resolve) => setTimeout(resolve, 5))
  const reply = await app.inject({ method: 'GET', url: '/api/nowhere' })
  t.equal(reply.statusCode, 503)
  t.equal(reply.json().code, 'service_unavailable')
  t.ok(Number(reply.headers['retry-after']) >= 1)
})
