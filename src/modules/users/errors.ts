import { defineError } from '../../errors.js'

export const CannotDemoteSelf = defineError('cannot_demote_self', 409, 'You cannot remove your own admin role; ask another admin')
export const UserNotFound = defineError('not_found', 404, 'Not found')
