import type { Role } from '../../plugins/auth-guard.js'

/**
 * The one map of who may do what. Routes name the permission they need; the roles that grant it are
 * read from here, so changing a role's reach is one edit in one place.
 */
export const PERMISSIONS = {
  'profile.read': ['voter', 'auditor', 'admin'],
  'profile.write': ['voter', 'auditor', 'admin'],
  'activity.write': ['voter', 'auditor', 'admin'],
  'activity.read': ['voter', 'auditor', 'admin'],
  'admin.users.read': ['admin'],
  'admin.users.roles': ['admin'],
  'admin.audit.read': ['admin', 'auditor'],
} as const satisfies Record<string, readonly Role[]>

export type Permission = keyof typeof PERMISSIONS
export const ROLES: readonly Role[] = ['voter', 'auditor', 'admin']

export function rolesWith(permission: Permission): Role[] {
  return [...PERMISSIONS[permission]]
}

export function can(roles: readonly string[], permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly string[]).some((role) => roles.includes(role))
}
