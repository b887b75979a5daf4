import { Type, type Static } from 'typebox'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const FormFactorSchema = Type.Union([Type.Literal('desktop'), Type.Literal('laptop'), Type.Literal('tablet'), Type.Literal('mobile')])
export const DeviceTypeSchema = Type.Union([Type.Literal('desktop'), Type.Literal('laptop'), Type.Literal('tablet'), Type.Literal('mobile'), Type.Literal('unknown')])

/** What the client may say about itself; stored beside what the server derives, never instead of it. */
export const DeclaredDeviceBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A name the person recognises, e.g. "Ada\'s phone"' })),
  fingerprint: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'A client-side device fingerprint; stored only as a keyed hash' })),
  formFactor: Type.Optional(FormFactorSchema),
  platformAuthenticator: Type.Optional(Type.Boolean({ description: 'isUserVerifyingPlatformAuthenticatorAvailable()' })),
}, { additionalProperties: false })
export type DeclaredDeviceBody = Static<typeof DeclaredDeviceBody>

/** The contract's `Device`. */
export const DeviceView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Nullable(Type.String()),
  type: DeviceTypeSchema,
  os: Nullable(Type.String()),
  osVersion: Nullable(Type.String()),
  browser: Nullable(Type.String()),
  browserVersion: Nullable(Type.String()),
  ip: Nullable(Type.String({ description: 'Last address seen' })),
  location: Type.Optional(Type.Object({
    country: Type.String({ description: 'ISO 3166-1 alpha-2' }),
    region: Type.Optional(Type.String()),
    city: Type.Optional(Type.String()),
  })),
  firstSeenAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  current: Type.Boolean({ description: 'The device this request comes from' }),
  hasPasskey: Type.Boolean(),
  trusted: Type.Boolean(),
}, { $id: 'Device', description: 'A device of the user' })
export type DeviceView = Static<typeof DeviceView>

/** What `PUT /api/devices/update` may change. */
export const DeviceUpdateBody = Type.Object({
  deviceId: Type.String({ minLength: 1, maxLength: 64, description: 'The device\'s id (a UUID); any other value is not found' }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '\\S', description: 'Surrounding spaces are removed' })),
  trusted: Type.Optional(Type.Boolean({ description: 'The user vouches for this device' })),
}, { additionalProperties: false })
export type DeviceUpdateBody = Static<typeof DeviceUpdateBody>

export const DeviceIdParams = Type.Object({
  // No length limit of its own: the router refuses long parameters, and any other value is simply not a device.
  id: Type.String({ minLength: 1, description: 'The device\'s id (a UUID); any other value is not found' }),
}, { additionalProperties: false })
