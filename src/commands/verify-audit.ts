import { access } from 'node:fs/promises'
import type { Config } from '../config.js'
import { embeddedDir, openDatabase } from '../db/client.js'
import { verifyAuditChain } from '../modules/users/audit.js'

export interface CommandOutput {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
}

/** Exit codes: the chain is intact, it is broken, or it could not be checked at all. */
export const VERIFY_AUDIT_EXIT = { intact: 0, broken: 1, failed: 2 } as const

/**
 * `cli verify-audit`: walks the audit chain of the configured database and says whether it is intact.
 * On success it prints the head (last seq and hash): kept somewhere the database's owner cannot write,
 * it lets a later run notice events cut off the end, which the chain alone cannot show.
 */
export async function verifyAuditCommand(config: Config, output: CommandOutput = process): Promise<number> {
  let handle
  try {
    if (!config.database.url) {
      const dir = embeddedDir(config.database.dataDir)
      // Opening a missing embedded directory would create an empty database rather than verify anything.
      if (!await access(dir).then(() => true, () => false)) {
        output.stderr.write(`audit chain not verified: no embedded database at ${dir}\n`)
        return VERIFY_AUDIT_EXIT.failed
      }
    }
    handle = await openDatabase({ url: config.database.url, poolMax: 1, embeddedDir: embeddedDir(config.database.dataDir) })
    const result = await verifyAuditChain(handle.db)
    if (result.ok) {
      const head = result.head ? `head seq ${result.head.seq} hash ${result.head.hash}` : 'no events yet'
      output.stdout.write(`audit chain intact: ${result.count} events, ${head}\n`)
      return VERIFY_AUDIT_EXIT.intact
    }
    output.stdout.write(`audit chain BROKEN at seq ${result.brokenAt.seq}: ${result.brokenAt.reason} `
      + `(${result.count} events verified before it)\n`)
    return VERIFY_AUDIT_EXIT.broken
  } catch (error) {
    output.stderr.write(`audit chain not verified: ${error instanceof Error ? error.message : String(error)}\n`)
    return VERIFY_AUDIT_EXIT.failed
  } finally {
    await handle?.close()
  }
}
