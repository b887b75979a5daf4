import t, { type Test } from 'tap'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DatabaseReplyTimeout, watchedSockets } from '../../src/db/watchdog.js'

/**
 * The reply watchdog on its own, against a server that speaks just enough of PostgreSQL's protocol: the client's
 * startup message owes a ReadyForQuery, which the server sends (or not) after `replyAfterMs`.
 */
const REPLY_TIMEOUT_MS = 100

/** StartupMessage: length, protocol 3.0, an empty parameter list. */
const STARTUP = Buffer.from([0, 0, 0, 9, 0, 3, 0, 0, 0])
/** ReadyForQuery, idle. */
const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49])

/**
 * The server runs in a process of its own, so that it answers while this one is held up. It prints its port,
 * and creates `sentMarker` (when given) once its reply is handed to the kernel. `replyAfterMs` null: it never answers.
 */
async function server(t: Test, replyAfterMs: number | null, sentMarker = '') {
  const script = `
    const ready = Buffer.from(${JSON.stringify([...READY])})
    const sent = () => { if (${JSON.stringify(sentMarker)}) require('node:fs').writeFileSync(${JSON.stringify(sentMarker)}, '') }
    const server = require('node:net').createServer((connection) => {
      connection.once('data', () => { if (${replyAfterMs} !== null) setTimeout(() => connection.write(ready, sent), ${replyAfterMs ?? 0}) })
    })
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill() })
  const [line] = await once(child.stdout!, 'data') as [Buffer]
  return Number(line.toString().trim())
}

async function connectWatched(port: number) {
  const socket = watchedSockets({ replyTimeoutMs: REPLY_TIMEOUT_MS })({ host: ['127.0.0.1'], port: [port] })
  await once(socket, 'connect')
  return socket
}

t.test('a connection that owes a reply and hears nothing is dropped with a timeout error', async (t) => {
  const socket = await connectWatched(await server(t, null))
  const failed = once(socket, 'error')
  socket.write(STARTUP)
  const [error] = await failed
  t.type(error, DatabaseReplyTimeout)
  t.equal((error as DatabaseReplyTimeout).code, 'ETIMEDOUT', 'an error the app maps to 503')
  t.ok(socket.destroyed)
})

t.test('a reply that came in while the event loop was held up past the timeout is read, not taken for silence', async (t) => {
  const marker = join(t.testdir(), 'sent')
  const socket = await connectWatched(await server(t, 10, marker))
  const replied = once(socket, 'data')
  socket.write(STARTUP)
  // The process is busy (a loaded machine): the reply arrives and the timeout passes before the loop turns again.
  const since = Date.now()
  while ((Date.now() - since < REPLY_TIMEOUT_MS * 3 || !existsSync(marker)) && Date.now() - since < 30_000) { /* held up */ }
  t.ok(existsSync(marker), 'the server replied while this process was held up')
  const [chunk] = await replied
  t.same(chunk, READY, 'the reply was read')
  await sleep(REPLY_TIMEOUT_MS * 2)
  t.notOk(socket.destroyed, 'and the connection kept')
  socket.destroy()
})

t.test('a connection that owes nothing is left alone however long it is quiet', async (t) => {
  const socket = await connectWatched(await server(t, 0))
  const replied = once(socket, 'data')
  socket.write(STARTUP)
  await replied
  await sleep(REPLY_TIMEOUT_MS * 3)
  t.notOk(socket.destroyed)
  socket.destroy()
})
