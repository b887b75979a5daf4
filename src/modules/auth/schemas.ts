import { Type } from 'typebox'

export const FlowId = Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$', description: 'Opaque flow id from send-otp' })
export const ChannelSchema = Type.Union([Type.Literal('email'), Type.Literal('sms')])

export const SendOtpBody = Type.Object({
  channel: ChannelSchema,
  email: Type.Optional(Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Step 1: the Sngine account email' })),
  phone: Type.Optional(Type.String({ minLength: 3, maxLength: 40, description: 'Step 2: the phone of the same Sngine account' })),
  flowId: Type.Optional(FlowId),
}, { additionalProperties: false })

export const SendOtpReply = Type.Object({
  flowId: Type.String(),
  channel: ChannelSchema,
  destination: Type.String({ description: 'Masked: a***@b.c or +1******2671' }),
  expiresInSeconds: Type.Integer(),
  resendAfterSeconds: Type.Integer(),
})

export const VerifyOtpBody = Type.Object({
  flowId: FlowId,
  channel: ChannelSchema,
  code: Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code' }),
}, { additionalProperties: false })

export const Verified = Type.Object({ email: Type.Boolean(), phone: Type.Boolean() })
export const Next = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('biometric')])

export const VerifyOtpReply = Type.Object({
  flowId: Type.String(),
  verified: Verified,
  next: Next,
})

export const FlowStatus = Type.Object({
  verified: Verified,
  next: Next,
  expiresAt: Type.String({ format: 'date-time' }),
})

export const StatusQuery = Type.Object({ flowId: Type.Optional(FlowId) }, { additionalProperties: false })
