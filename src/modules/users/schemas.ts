import { Type, type Static } from 'typebox'
import { getCountries } from 'libphonenumber-js/max'
import { PageQuery } from '../../pagination.js'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])
const Language = Type.String({ pattern: '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$', maxLength: 35, description: 'BCP 47 tag, e.g. en or pt-BR' })
/** ISO 3166-1 alpha-2 codes with a known territory. */
export const COUNTRY_CODES = getCountries() as string[]

/** The contract's `User`: contact details only ever masked. */
export const UserView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sngineUserId: Type.Integer({ description: 'The linked Sngine account' }),
  displayName: Type.Union([Type.String(), Type.Null()]),
  email: Type.String({ description: 'Masked: a***@example.com' }),
  phone: Type.Union([Type.String({ description: 'Masked: +1******2671' }), Type.Null()]),
  roles: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { $id: 'User', description: 'A Vottery user' })
export type UserView = Static<typeof UserView>

export const ProfileSchema = Type.Object({
  ...UserView.properties,
  bio: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  preferences: Type.Record(Type.String(), Type.Unknown()),
  language: Type.Union([Type.String(), Type.Null()]),
})

export const ProfileUpdate = Type.Object({
  displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  bio: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
  avatarUrl: Type.Optional(Nullable(Type.String({ maxLength: 2048, format: 'uri', pattern: '^https://' }))),
  preferences: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 50 })),
  language: Type.Optional(Nullable(Language)),
}, { additionalProperties: false, minProperties: 1 })

export const Gender = Type.Union(['female', 'male', 'non_binary', 'other', 'prefer_not_to_say'].map((g) => Type.Literal(g)))

export const DemographicsSchema = Type.Object({
  gender: Type.Union([Type.String(), Type.Null()]),
  birthDate: Type.Union([Type.String({ format: 'date' }), Type.Null()]),
  country: Type.Union([Type.String(), Type.Null()]),
  region: Type.Union([Type.String(), Type.Null()]),
  city: Type.Union([Type.String(), Type.Null()]),
  language: Type.Union([Type.String(), Type.Null()]),
})

export const DemographicsUpdate = Type.Object({
  gender: Type.Optional(Type.Union([Gender, Type.Null()])),
  birthDate: Type.Optional(Nullable(Type.String({ format: 'date' }))),
  country: Type.Optional(Type.Union([Type.Union(COUNTRY_CODES.map((c) => Type.Literal(c))), Type.Null()])),
  region: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  city: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  language: Type.Optional(Nullable(Language)),
}, { additionalProperties: false, minProperties: 1 })

export const ActivityBody = Type.Object({
  type: Type.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*){0,3}$', maxLength: 64, description: 'e.g. page.view, ballot.opened' }),
  meta: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 20 })),
}, { additionalProperties: false })

export const ActivityEntrySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.String(),
  meta: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
})

export const ActivityPage = Type.Object({ items: Type.Array(ActivityEntrySchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export const ActivityQuery = Type.Object({ ...PageQuery }, { additionalProperties: false })

export const AdminUsersQuery = Type.Object({ ...PageQuery, email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })) }, { additionalProperties: false })
export const UsersPage = Type.Object({ items: Type.Array(Type.Ref('User')), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export const RolesBody = Type.Object({
  roles: Type.Array(Type.Union([Type.Literal('voter'), Type.Literal('auditor'), Type.Literal('admin')]), { maxItems: 3, uniqueItems: true }),
}, { additionalProperties: false })
export const UserIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const AuditQuery = Type.Object({
  ...PageQuery,
  userId: Type.Optional(Type.String({ format: 'uuid' })),
  type: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_.]*$', maxLength: 64 })),
}, { additionalProperties: false })
export const AuditEventSchema = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  type: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  actor: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String(),
  prevHash: Type.String(),
  hash: Type.String(),
})
export const AuditPage = Type.Object({ items: Type.Array(AuditEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })

/** Serialised size cap for free-form objects (preferences, activity meta). */
export const MAX_OBJECT_BYTES = 4096
