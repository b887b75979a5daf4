import type { Config } from '../config.js'
import type { CommandIo } from '../cli.js'

/** Exit codes: done, or skipped because another instance is running it (EX_TEMPFAIL: try again later). */
export const SYNC_SNGINE_EXIT = { done: 0, failed: 1, locked: 75 } as const

/**
 * `sync-sngine`: one reconciliation with Sngine now, as the service runs every `SNGINE_SYNC_INTERVAL` seconds.
 * Prints one summary line.
 */
export async function syncSngineCommand(config: Config, _args: string[], io: CommandIo): Promise<number> {
  const { buildApp } = await import('../app.js')
  const app = await buildApp({ ...config, logLevel: 'warn', demoUi: false, sngine: { ...config.sngine, syncIntervalSeconds: 0 } })
  try {
    await app.ready()
    const result = await app.sngineSync.run({ actor: 'cli' })
    if (!result.ran) {
      io.stderr('sync-sngine: another instance is reconciling with Sngine right now; nothing done\n')
      return SYNC_SNGINE_EXIT.locked
    }
    io.stdout(`sync-sngine: ${result.checked} users checked, ${result.suspended} suspended, ${result.reinstated} reinstated, `
      + `${result.sessionsRevoked} sessions revoked\n`)
    return SYNC_SNGINE_EXIT.done
  } catch (error) {
    io.stderr(`sync-sngine failed: ${error instanceof Error ? error.message : String(error)}\n`)
    return SYNC_SNGINE_EXIT.failed
  } finally {
    await app.close()
  }
}
