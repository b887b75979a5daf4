import t from 'tap'
// The proxy fixture itself (tests under test/fixtures are not collected by tap).
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { startTcpProxy } from '../fixtures/tcp-proxy.js'

async function startEcho(t: Tap) {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { port: (server.address() as AddressInfo).port, sockets }
}
type Tap = { teardown(fn: () => unknown): void }

/** Resolves when the socket has closed (however: errors are part of being cut). */
function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve()
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** Connects through the proxy; `ask` writes and resolves with the echo, or with null when the connection ends first. */
async function client(port: number) {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  let ended = false
  socket.on('close', () => { ended = true })
  return {
    socket,
    get ended() { return ended },
    ask: (text: string) => new Promise<string | null>((resolve) => {
      socket.once('data', (data) => resolve(String(data)))
      socket.once('close', () => resolve(null))
      socket.write(text)
    }),
  }
}

t.test('passes bytes both ways until cut, and again after restore', async (t) => {
  const echo = await startEcho(t)
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port }, t)
  const first = await client(proxy.port)
  t.equal(await first.ask('ping'), 'ping')
  t.equal(proxy.open, 1)

  proxy.cut('reset')
  t.equal(proxy.state, 'reset')
  await closed(first.socket)
  t.ok(first.ended, 'an open connection is dropped')
  const during = connect(proxy.port, '127.0.0.1')
  during.on('error', () => {})
  await closed(during)
  t.pass('a new connection is dropped on arrival')

  proxy.restore()
  const after = await client(proxy.port)
  t.equal(await after.ask('pong'), 'pong', 'new connections pass again')
  after.socket.destroy()
})

t.test('a blackhole swallows bytes without closing anything', async (t) => {
  const echo = await startEcho(t)
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port }, t)
  const open = await client(proxy.port)
  t.equal(await open.ask('a'), 'a')
  proxy.cut('blackhole')
  let answered = false
  const pending = open.ask('b').then((answer) => { answered = true; return answer })
  const fresh = connect(proxy.port, '127.0.0.1')
  fresh.on('error', () => {})
  await once(fresh, 'connect')
  let freshAnswered = false
  fresh.on('data', () => { freshAnswered = true })
  fresh.write('c')
  await sleep(300)
  t.notOk(answered, 'no answer on the open connection')
  t.notOk(open.ended, 'and it is not closed either')
  t.notOk(freshAnswered, 'a new connection is accepted but never answered')
  proxy.restore()
  t.equal(await pending, null, 'restore drops what the blackhole held')
  await closed(fresh)
  const after = await client(proxy.port)
  t.equal(await after.ask('d'), 'd')
  after.socket.destroy()
})
