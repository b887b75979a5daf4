import { Type } from 'typebox'
import { DeclaredDeviceBody } from '../devices/schemas.js'
import { FlowId } from './schemas.js'

/**
 * WebAuthn JSON as `@simplewebauthn/browser` produces and consumes it. Bodies are checked only for shape
 * and size here: what they mean is for the verifier to judge, so a malformed credential is a failed
 * verification (with the challenge spent), not a validation error.
 */
const B64 = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) })
const FreeObject = (description: string) => Type.Object({}, { additionalProperties: true, description })

const CredentialDescriptor = Type.Object({
  id: Type.String(),
  type: Type.String(),
  transports: Type.Optional(Type.Array(Type.String())),
})

export const CreationOptions = Type.Object({
  rp: Type.Object({ name: Type.String(), id: Type.Optional(Type.String()) }),
  user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }),
  challenge: Type.String(),
  pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.String() })),
  timeout: Type.Optional(Type.Integer()),
  excludeCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
  authenticatorSelection: Type.Optional(Type.Object({
    authenticatorAttachment: Type.Optional(Type.String()),
    requireResidentKey: Type.Optional(Type.Boolean()),
    residentKey: Type.Optional(Type.String()),
    userVerification: Type.Optional(Type.String()),
  })),
  hints: Type.Optional(Type.Array(Type.String())),
  attestation: Type.Optional(Type.String()),
  attestationFormats: Type.Optional(Type.Array(Type.String())),
  extensions: Type.Optional(FreeObject('Client extension inputs')),
}, { description: 'PublicKeyCredentialCreationOptionsJSON, for startRegistration()' })

export const RequestOptions = Type.Object({
  challenge: Type.String(),
  timeout: Type.Optional(Type.Integer()),
  rpId: Type.Optional(Type.String()),
  allowCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
  userVerification: Type.Optional(Type.String()),
  hints: Type.Optional(Type.Array(Type.String())),
  extensions: Type.Optional(FreeObject('Client extension inputs')),
}, { description: 'PublicKeyCredentialRequestOptionsJSON, for startAuthentication()' })

export const RegistrationCredential = Type.Object({
  id: B64(1024, 'Credential id'),
  rawId: B64(1024),
  type: Type.String({ maxLength: 32 }),
  response: Type.Object({
    clientDataJSON: B64(4096),
    attestationObject: B64(32_768),
    authenticatorData: Type.Optional(B64(16_384)),
    transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
    publicKeyAlgorithm: Type.Optional(Type.Integer()),
    publicKey: Type.Optional(B64(4096)),
  }, { additionalProperties: false }),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  clientExtensionResults: FreeObject('Client extension outputs'),
}, { additionalProperties: false, description: 'RegistrationResponseJSON from startRegistration()' })

export const AuthenticationCredential = Type.Object({
  id: B64(1024, 'Credential id'),
  rawId: B64(1024),
  type: Type.String({ maxLength: 32 }),
  response: Type.Object({
    clientDataJSON: B64(4096),
    authenticatorData: B64(16_384),
    signature: B64(2048),
    userHandle: Type.Optional(B64(128)),
  }, { additionalProperties: false }),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  clientExtensionResults: FreeObject('Client extension outputs'),
}, { additionalProperties: false, description: 'AuthenticationResponseJSON from startAuthentication()' })

export const BiometricOptionsBody = Type.Object({ flowId: FlowId }, { additionalProperties: false })

export const CaptureBiometricBody = Type.Object({
  flowId: FlowId,
  credential: RegistrationCredential,
  device: Type.Optional(DeclaredDeviceBody),
}, { additionalProperties: false })

export const PasskeyOptionsBody = Type.Object({}, { additionalProperties: false })

export const PasskeyVerifyBody = Type.Object({ credential: AuthenticationCredential }, { additionalProperties: false })

export const AccessTokenReply = Type.Object({
  accessToken: Type.String({ description: 'EdDSA JWT; send as Authorization: Bearer <token>' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds' }),
})

export const SignInReply = Type.Object({
  ...AccessTokenReply.properties,
  user: Type.Ref('User'),
  device: Type.Ref('Device'),
  session: Type.Object({ id: Type.String({ format: 'uuid' }), expiresAt: Type.String({ format: 'date-time' }) }),
}, { description: 'A new session; the refresh token is set as the vt_refresh cookie' })
