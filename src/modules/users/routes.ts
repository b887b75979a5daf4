import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { withErrors } from '../../schemas.js'
import { ValidationFailed } from '../../errors.js'
import { rolesWith, type Permission } from './permissions.js'
import type { UserService } from './service.js'
import {
  ActivityBody, ActivityEntrySchema, ActivityPage, ActivityQuery, AdminUsersQuery, AuditPage, AuditQuery, DemographicsSchema,
  DemographicsUpdate, MAX_OBJECT_BYTES, ProfileSchema, ProfileUpdate, RolesBody, UserIdParams, UsersPage,
} from './schemas.js'

const userId = (request: FastifyRequest) => request.auth!.userId

/** Free-form objects nest at most this deep: PostgreSQL refuses deep jsonb, and nobody needs it. */
const MAX_OBJECT_DEPTH = 8

function depthOf(value: unknown, limit: number): number {
  if (value === null || typeof value !== 'object') return 0
  if (limit <= 0) return 1
  let deepest = 0
  for (const inner of Object.values(value)) deepest = Math.max(deepest, depthOf(inner, limit - 1))
  return deepest + 1
}

function checkSize(value: unknown, field: string) {
  if (value === undefined) return
  if (depthOf(value, MAX_OBJECT_DEPTH + 1) > MAX_OBJECT_DEPTH) {
    throw new ValidationFailed({ message: `${field} nests deeper than ${MAX_OBJECT_DEPTH} levels`, details: { field, rule: 'maxDepth' } })
  }
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_OBJECT_BYTES) {
    throw new ValidationFailed({ message: `${field} is larger than ${MAX_OBJECT_BYTES} bytes`, details: { field, rule: 'maxBytes' } })
  }
}

function checkBirthDate(value: string | null | undefined) {
  if (value === undefined || value === null) return
  const date = new Date(`${value}T00:00:00Z`)
  const age = (Date.now() - date.getTime()) / (365.25 * 86_400_000)
  if (Number.isNaN(date.getTime()) || age < 0 || age > 130) {
    throw new ValidationFailed({ message: 'body.birthDate is not a plausible birth date', details: { field: 'body.birthDate', rule: 'range' } })
  }
}

/** `/api/users/*` and `/api/admin/*`. Each route names the permission it needs (permissions.ts). */
export async function usersRoutes(fastify: FastifyInstance, opts: { users: UserService }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { users } = opts
  const guard = (permission: Permission) => fastify.requireRole(...rolesWith(permission))
  const secured = { security: [{ bearer: [] }] }

  app.get('/users/profile', {
    onRequest: guard('profile.read'),
    schema: { tags: ['users'], summary: 'My profile', ...secured, response: withErrors({ 200: ProfileSchema }, 401, 403, 404) },
  }, async (request) => users.profile(userId(request)))

  app.put('/users/profile', {
    onRequest: guard('profile.write'),
    schema: { tags: ['users'], summary: 'Update my profile', ...secured, body: ProfileUpdate, response: withErrors({ 200: ProfileSchema }, 401, 403, 404) },
  }, async (request) => {
    checkSize(request.body.preferences, 'body.preferences')
    return users.updateProfile(userId(request), request.body, request.ip)
  })

  app.get('/users/demographics', {
    onRequest: guard('profile.read'),
    schema: { tags: ['users'], summary: 'My demographics (stored encrypted)', ...secured, response: withErrors({ 200: DemographicsSchema }, 401, 403, 404) },
  }, async (request) => users.demographics(userId(request)))

  app.put('/users/demographics', {
    onRequest: guard('profile.write'),
    schema: { tags: ['users'], summary: 'Update my demographics', ...secured, body: DemographicsUpdate, response: withErrors({ 200: DemographicsSchema }, 401, 403, 404) },
  }, async (request) => {
    checkBirthDate(request.body.birthDate)
    return users.updateDemographics(userId(request), request.body, request.ip)
  })

  app.post('/users/activity', {
    onRequest: guard('activity.write'),
    schema: { tags: ['users'], summary: 'Record an activity of mine', ...secured, body: ActivityBody, response: withErrors({ 201: ActivityEntrySchema }, 401, 403) },
  }, async (request, reply) => {
    checkSize(request.body.meta, 'body.meta')
    return reply.code(201).send(await users.recordActivity(userId(request), request.body.type, request.body.meta))
  })

  app.get('/users/activity', {
    onRequest: guard('activity.read'),
    schema: { tags: ['users'], summary: 'My activity, newest first', ...secured, querystring: ActivityQuery, response: withErrors({ 200: ActivityPage }, 401, 403) },
  }, async (request) => users.listActivity(userId(request), request.query.limit ?? 20, request.query.cursor))

  app.get('/admin/users', {
    onRequest: guard('admin.users.read'),
    schema: { tags: ['users'], summary: 'All users (admin); search by exact email', ...secured, querystring: AdminUsersQuery, response: withErrors({ 200: UsersPage }, 401, 403) },
  }, async (request) => users.listUsers(request.query.limit ?? 20, request.query.cursor, request.query.email))

  app.put('/admin/users/:id/roles', {
    onRequest: guard('admin.users.roles'),
    schema: { tags: ['users'], summary: "Set a user's roles (admin)", ...secured, params: UserIdParams, body: RolesBody, response: withErrors({ 200: { $ref: 'User' } }, 401, 403, 404, 409) },
  }, async (request) => users.setRoles(request.params.id, request.body.roles, { userId: userId(request), label: `user:${userId(request)}`, ip: request.ip }))

  app.get('/admin/audit', {
    onRequest: guard('admin.audit.read'),
    schema: { tags: ['users'], summary: 'The audit log (admin, auditor)', ...secured, querystring: AuditQuery, response: withErrors({ 200: AuditPage }, 401, 403) },
  }, async (request) => {
    const { limit, cursor, userId: subject, type } = request.query
    const result = await fastify.audit.list({ limit: limit ?? 20, cursor, userId: subject, type })
    return { items: result.items.map((e) => ({ ...e, createdAt: e.createdAt.toISOString() })), nextCursor: result.nextCursor }
  })
}
