import type { Config } from '../config.js'
import type { CommandIo } from '../cli.js'
import { ROLES } from '../modules/users/permissions.js'

const USAGE = 'usage: npm run cli -- grant-role|revoke-role --email <sngine email> --role <voter|auditor|admin>\n'

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`)
  return index >= 0 ? args[index + 1] : undefined
}

/**
 * `grant-role` / `revoke-role`: the first admin is made here, never over HTTP. The person must have
 * finished onboarding; the change reaches their access at the next token refresh.
 */
export async function roleCommand(mode: 'grant' | 'revoke', config: Config, args: string[], io: CommandIo): Promise<number> {
  const email = option(args, 'email')
  const role = option(args, 'role')
  if (!email || !role || !(ROLES as readonly string[]).includes(role)) {
    io.stderr(USAGE)
    return 64
  }
  if (mode === 'revoke' && role === 'voter') {
    io.stderr('every user keeps the voter role\n')
    return 64
  }
  const { buildApp } = await import('../app.js')
  const app = await buildApp({ ...config, logLevel: 'warn', demoUi: false })
  try {
    await app.ready()
    const user = await app.users.findByEmail(email)
    if (!user) {
      io.stderr('no onboarded user has that email; they must finish onboarding first\n')
      return 1
    }
    const current = (await app.users.viewById(user.id)).roles
    const roles = mode === 'grant' ? [...current, role] : current.filter((r) => r !== role)
    const view = await app.users.setRoles(user.id, roles, { userId: null, label: 'cli', ip: null })
    io.stdout(`${view.email}: roles ${view.roles.join(', ')}\n`)
    return 0
  } finally {
    await app.close()
  }
}
