import t from 'tap'
import { roleCommand } from '../../src/commands/roles.js'
import { build, createTestUser, openSharedDatabase, testConfig } from '../helper.js'

function io() {
  const out = { stdout: '', stderr: '' }
  return { out, io: { stdout: (s: string) => { out.stdout += s }, stderr: (s: string) => { out.stderr += s }, readStdin: async () => '' } }
}

t.test('grant-role and revoke-role from the command line', async (t) => {
  const shared = await openSharedDatabase(t)
  const first = await build(t, { env: shared.env, database: await shared.open() })
  const ada = await createTestUser(first.app, { email: 'ada@example.com' })
  await first.app.close()
  await first.database.close()
  const config = testConfig(shared.env)

  const unknown = io()
  t.equal(await roleCommand('grant', config, ['--email', 'nobody@example.com', '--role', 'admin'], unknown.io), 1)
  t.match(unknown.out.stderr, /finish onboarding/)
  const bad = io()
  t.equal(await roleCommand('grant', config, ['--email', 'ada@example.com', '--role', 'root'], bad.io), 64)

  const grant = io()
  t.equal(await roleCommand('grant', config, ['--email', 'ADA@example.com', '--role', 'admin'], grant.io), 0)
  t.match(grant.out.stdout, /a\*\*\*@example\.com: roles admin, voter/)
  t.notMatch(grant.out.stdout + grant.out.stderr, /ada@example/, 'the address is not printed in clear')

  const second = await build(t, { env: shared.env, database: await shared.open() })
  t.teardown(() => second.database.close())
  const view = await second.app.users.viewById(ada.userId)
  t.same(view.roles, ['admin', 'voter'])
  const audit = await second.app.audit.list({ limit: 10, type: 'user.roles_changed' })
  t.match(audit.items[0], { actor: 'cli', userId: ada.userId })
  await second.app.close()
  await second.database.close()

  const revoke = io()
  t.equal(await roleCommand('revoke', config, ['--email', 'ada@example.com', '--role', 'admin'], revoke.io), 0)
  t.match(revoke.out.stdout, /roles voter$/m)
})
