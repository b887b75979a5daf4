import t from 'tap'
import { randomUUID } from 'node:crypto'
import { build } from '../helper.js'

t.test('fastify.audit records, verifies and lists through the app database', async (t) => {
  const { app } = await build(t)
  t.ok(app.hasDecorator('audit'))
  const userId = randomUUID()
  const alone = await app.audit.record({ type: 'otp.sent', userId, ip: '203.0.113.9', data: { channel: 'sms', destination: '+1******2671' } })
  const inTransaction = await app.db.transaction((tx) => app.audit.record({ type: 'passkey.registered', userId, actor: 'system' }, tx))
  t.same([alone.seq, inTransaction.seq], [1, 2])
  t.same(await app.audit.verify(), { ok: true, count: 2, head: { seq: 2, hash: inTransaction.hash } })
  t.same(await app.audit.verify({ batchSize: 1 }), { ok: true, count: 2, head: { seq: 2, hash: inTransaction.hash } })
  const page = await app.audit.list({ limit: 1, userId })
  t.match(page.items, [{ id: inTransaction.id, type: 'passkey.registered', actor: 'system', prevHash: alone.hash }])
  const next = await app.audit.list({ limit: 1, userId, cursor: page.nextCursor })
  t.match(next, { items: [{ id: alone.id, ip: '203.0.113.9', data: { channel: 'sms' } }], nextCursor: null })
  await t.rejects(app.audit.record({ type: 'otp.sent', data: { code: '123456' } }), { name: 'AuditEventRejected' })
})
