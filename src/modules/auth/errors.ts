import { defineError } from '../../errors.js'

export const FlowNotFound = defineError('flow_not_found', 404, 'This verification flow does not exist or has expired; start again')
export const FlowDeviceMismatch = defineError('flow_device_mismatch', 403, 'This verification flow belongs to another device')
export const InvalidCode = defineError('invalid_code', 400, 'That code is not right')
export const CodeExpired = defineError('code_expired', 410, 'That code has expired; ask for a new one')
export const TooManyAttempts = defineError('too_many_attempts', 429, 'Too many wrong codes')
export const NoActiveCode = defineError('no_active_code', 409, 'No code is waiting on this channel; ask for one first')
export const AlreadyVerified = defineError('already_verified', 409, 'This step is already verified')
export const OtpResendTooSoon = defineError('otp_resend_too_soon', 429, 'A code was just sent; wait before asking again')
export const OtpSendLimit = defineError('otp_send_limit', 429, 'Too many codes sent; try again later')
export const EmailNotVerified = defineError('email_not_verified', 409, 'Verify the email address first')
export const InvalidPhone = defineError('invalid_phone', 400, 'That is not a phone number we can read')
export const PhoneMismatch = defineError('phone_mismatch', 422, 'That phone number is not the one on your account')
export const PhoneNotOnRecord = defineError('phone_not_on_record', 422, 'Your account has no phone number; add one on the social network first')
export const PhoneCountryNotAllowed = defineError('phone_country_not_allowed', 422, 'Text messages cannot be sent to that country')

// Step 3: the passkey.
export const StepsIncomplete = defineError('steps_incomplete', 409, 'Verify the email address and the phone number first')
export const UserVerificationRequired = defineError('user_verification_required', 400, 'The authenticator did not verify you (fingerprint, face or device PIN); try again')
export const BiometricVerificationFailed = defineError('biometric_verification_failed', 400, 'The passkey could not be verified; ask for new options and try again')
export const CredentialExists = defineError('credential_exists', 409, 'This passkey is already registered')

// Returning users.
export const UnknownCredential = defineError('unknown_credential', 401, 'This passkey is not known here; set up this device again')
export const PasskeyVerificationFailed = defineError('passkey_verification_failed', 401, 'The passkey could not be verified; try again')
export const CredentialCloned = defineError('credential_cloned', 401, 'This passkey looks copied and has been disabled; set up this device again')

// Tokens.
export const InvalidRefreshToken = defineError('invalid_refresh_token', 401, 'Sign in again')
export const RefreshTokenReused = defineError('refresh_token_reused', 401, 'This session was ended because a refresh token was used twice; sign in again')
