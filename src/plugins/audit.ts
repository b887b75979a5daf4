import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Executor } from '../db/client.js'
import {
  listAuditEvents, recordAuditEvent, verifyAuditChain,
  type AuditChainVerification, type AuditEventInput, type AuditEventPage, type AuditListQuery, type RecordedAuditEvent,
} from '../modules/users/audit.js'

export interface AuditLog {
  /**
   * Appends an event (see AuditEventInput: ids, HMACs and masked values only). Pass the transaction the
   * event belongs to, recording it last in that transaction (the append lock is held until it commits);
   * without one the event is committed on its own, batched with others recorded at the same moment.
   */
  record(event: AuditEventInput, executor?: Executor): Promise<RecordedAuditEvent>
  verify(options?: { batchSize?: number }): Promise<AuditChainVerification>
  list(query: AuditListQuery): Promise<AuditEventPage>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The append-only, hash-chained audit log every module writes to. */
    audit: AuditLog
  }
}

async function auditPlugin(fastify: FastifyInstance) {
  const audit: AuditLog = {
    record: (event, executor) => recordAuditEvent(executor ?? fastify.db, event),
    verify: (options) => verifyAuditChain(fastify.db, options),
    list: (query) => listAuditEvents(fastify.db, query),
  }
  fastify.decorate('audit', audit)
}

export default fp(auditPlugin, { name: 'audit', fastify: '5.x', dependencies: ['db'] })
