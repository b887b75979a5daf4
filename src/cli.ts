import { ConfigError, loadConfig, type Config } from './config.js'

/** What a command may touch of the terminal; tests hand in their own. */
export interface CommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  readStdin: () => Promise<string>
}

type Command = (config: Config, args: string[], io: CommandIo) => Promise<number>

/**
 * `npm run cli -- <command> [options]`: operator commands, each implemented by the module it belongs
 * to and loaded only when run.
 */
const COMMANDS: Record<string, { summary: string; run: Command }> = {
  'rotate-master-key': {
    summary: 're-wrap every stored key under a new master key',
    run: async (...args) => (await import('./modules/crypto/master-key-rotation.js')).rotateMasterKeyCommand(...args),
  },
  'grant-role': {
    summary: 'give an onboarded person a role: --email <sngine email> --role <voter|auditor|admin>',
    run: async (...args) => (await import('./commands/roles.js')).roleCommand('grant', ...args),
  },
  'revoke-role': {
    summary: 'take a role away: --email <sngine email> --role <auditor|admin>',
    run: async (...args) => (await import('./commands/roles.js')).roleCommand('revoke', ...args),
  },
  'sync-sngine': {
    summary: 'reconcile with Sngine now: suspend users whose account is banned, deactivated or gone, reinstate the others',
    run: async (...args) => (await import('./commands/sync-sngine.js')).syncSngineCommand(...args),
  },
  'verify-audit': {
    summary: 'check that the audit log hash chain is intact',
    run: async (config, _args, io) => (await import('./commands/verify-audit.js')).verifyAuditCommand(config, {
      stdout: { write: (text: string) => { io.stdout(text); return true } },
      stderr: { write: (text: string) => { io.stderr(text); return true } },
    }),
  },
}

const EX_USAGE = 64
const EX_CONFIG = 78

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  return `usage: npm run cli -- <command> [options]\n\ncommands:\n${
    Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`).join('\n')}\n`
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

const io: CommandIo = {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  readStdin,
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  const command = name === undefined ? undefined : COMMANDS[name]
  if (!command) {
    io.stderr(usage())
    return name === undefined || name === '--help' ? 0 : EX_USAGE
  }
  return command.run(loadConfig(), args, io)
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (error: unknown) => {
    process.stderr.write(`vottery: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = error instanceof ConfigError ? EX_CONFIG : 1
  },
)
