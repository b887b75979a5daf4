import { connect, type Socket } from 'node:net'

/**
 * postgres.js has no client-side query timeout. `statement_timeout` is enforced by the server, so when the
 * network swallows packets (a partition, a dead NAT entry or load balancer) a query on an open connection
 * waits for a reply that never comes, and so does every request behind it; TCP keepalive does not help while
 * data is unacknowledged, and the kernel gives up only after about fifteen minutes.
 *
 * This socket factory (postgres.js's `socket` option) watches the protocol on each connection: it counts the
 * messages that owe a ReadyForQuery (the startup, every Query and Sync) and the ReadyForQuery messages that
 * come back. A connection that owes a reply and has heard nothing for `replyTimeoutMs` is destroyed; postgres.js
 * then fails what was pending on it with an ordinary connection error (the app answers 503) and opens a new
 * connection for the next query. An idle connection (a LISTEN, a pooled one) owes nothing and is left alone.
 *
 * Plain TCP or a Unix socket only: over TLS the bytes are opaque, so a URL asking for TLS keeps postgres.js's
 * own socket (and its keepalive) without this watch.
 */
export interface WatchdogOptions {
  /** Silence tolerated from a connection that owes a reply; longer than the statement timeout. */
  replyTimeoutMs: number
}

/** What postgres.js hands its `socket` option: the parsed connection options. */
interface SocketTarget {
  host: string[]
  port: number[]
  path?: string | false
}

/** A dropped connection's error: a network timeout, which the error handler maps to 503. */
export class DatabaseReplyTimeout extends Error {
  override name = 'DatabaseReplyTimeout'
  readonly code = 'ETIMEDOUT'
  constructor(ms: number) {
    super(`no reply from the database for ${ms} ms; connection dropped`)
  }
}

const PROTOCOL_3 = 196_608
const QUERY = 0x51 // 'Q'
const SYNC = 0x53 // 'S'
const FLUSH = 0x48 // 'H'
const READY_FOR_QUERY = 0x5a // 'Z'

/**
 * Counts messages in one direction of the PostgreSQL protocol without keeping them: only headers are read,
 * bodies are skipped. `untypedFirst`: the client's first message (startup, cancel) has no type byte.
 */
class MessageCounter {
  private readonly header = Buffer.alloc(8)
  private have = 0
  private skip = 0
  /** Set when the stream stops making sense (then the watch stands down rather than guess). */
  lost = false

  constructor(private untypedFirst: boolean, private readonly onMessage: (type: number | 'startup' | 'other') => void) {}

  push(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length && !this.lost) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at)
        this.skip -= n
        at += n
        continue
      }
      const need = this.untypedFirst ? 8 : 5
      const n = Math.min(need - this.have, chunk.length - at)
      chunk.copy(this.header, this.have, at, at + n)
      this.have += n
      at += n
      if (this.have < need) return
      this.have = 0
      if (this.untypedFirst) {
        this.untypedFirst = false
        const length = this.header.readUInt32BE(0)
        if (length < 8) { this.lost = true; return }
        this.skip = length - 8
        this.onMessage(this.header.readUInt32BE(4) === PROTOCOL_3 ? 'startup' : 'other')
      } else {
        const length = this.header.readUInt32BE(1)
        if (length < 4) { this.lost = true; return }
        this.skip = length - 4
        this.onMessage(this.header[0]!)
      }
    }
  }
}

/** Watches one connection; see the module comment. */
function watch(socket: Socket, replyTimeoutMs: number): Socket {
  let owed = 0
  let flushed = false
  let established = false
  let timer: NodeJS.Timeout | null = null
  /** Replies read so far (any chunk): tells whether one was read while the drop waited a turn. */
  let heard = 0
  const busy = () => !sent.lost && !received.lost && (owed > 0 || flushed)
  const stop = () => {
    if (timer) clearTimeout(timer)
    timer = null
  }
  const start = () => {
    stop()
    const fired: NodeJS.Timeout = setTimeout(() => {
      // An event loop held up for longer than the timeout (a loaded machine) runs due timers before it reads the
      // sockets, so the reply may be waiting unread: let this turn's I/O be read first (setImmediate runs after
      // it), and drop the connection only if that brought nothing.
      const before = heard
      setImmediate(() => {
        if (heard !== before || timer !== fired || socket.destroyed) return
        // Once the server has spoken, a plain close (see below); before, an error, which fails the connect.
        if (established) socket.destroy()
        else socket.destroy(new DatabaseReplyTimeout(replyTimeoutMs))
      })
    }, replyTimeoutMs)
    fired.unref()
    timer = fired
  }
  const sent = new MessageCounter(true, (type) => {
    if (type === 'startup' || type === QUERY || type === SYNC) owed++
    else if (type === FLUSH) flushed = true
  })
  const received = new MessageCounter(false, (type) => {
    flushed = false
    if (type === READY_FOR_QUERY && owed > 0) owed--
  })

  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(chunk) || chunk instanceof Uint8Array) sent.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    // Silence is counted from the first unanswered request, or from the last byte heard.
    if (busy() && !timer) start()
    return write(chunk, ...rest)
  }) as Socket['write']
  // The server never speaks before the client's startup message, so nothing is missed by listening here.
  socket.on('data', (chunk: Buffer) => {
    established = true
    heard++
    received.push(chunk)
    if (busy()) start()
    else stop()
  })
  socket.once('close', stop)

  // postgres.js fails what is pending on a connection when the socket reports an error, but moves the connection
  // out of the pool's busy list only at 'close', which Node emits a turn of the event loop later. A query sent in
  // between (a request's next step, reacting to the failure at once) is written to the dead socket and is never
  // answered nor failed: it hangs for ever. So, once connected, a socket error is held back and the close is
  // reported as a plain one, on which postgres.js fails what is pending and frees the connection in the same step.
  // (While connecting, the error must go through: it is what fails the connect.)
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean
  let heldBack = false
  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (established && event === 'error') {
      heldBack = true
      return true
    }
    if (event === 'close' && heldBack) return emit('close', false)
    return emit(event, ...args)
  }) as Socket['emit']
  return socket
}

/** The `socket` option for postgres.js: plain TCP (or a Unix socket) with the reply watchdog. */
export function watchedSockets(options: WatchdogOptions): (target: SocketTarget) => Socket {
  let next = 0
  return (target) => {
    let socket: Socket
    if (target.path) {
      socket = connect(target.path)
    } else {
      // Several hosts in the URL: each new connection tries the next one.
      const index = next++ % target.host.length
      const host = target.host[index] ?? 'localhost'
      const port = target.port[index] ?? target.port[0] ?? 5432
      // postgres.js names host and port in its connection errors from these.
      socket = Object.assign(connect(port, host), { host, port })
    }
    return watch(socket, options.replyTimeoutMs)
  }
}

/** Whether the URL asks for TLS (then postgres.js keeps its own socket, unwatched). */
export function wantsTls(url: string): boolean {
  const query = new URL(url).searchParams
  const mode = query.get('sslmode') ?? query.get('ssl')
  return mode !== null && mode !== 'disable' && mode !== 'false'
}

/** A silent connection that owes a reply is dropped this long after the statement timeout would have fired. */
export const REPLY_MARGIN_MS = 2000

/**
 * The postgres.js options that make an outage a prompt error rather than a hang, and recovery quick: connect
 * and statement timeouts, a reconnect back-off of at most a second (postgres.js's own grows to 20 s, and a query
 * waits with it), and the watched socket (plain TCP only).
 */
export function outageOptions(url: string, options: { connectTimeoutMs: number; statementTimeoutMs: number }) {
  return {
    connect_timeout: options.connectTimeoutMs / 1000,
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    ...(wantsTls(url) ? {} : { socket: watchedSockets({ replyTimeoutMs: options.statementTimeoutMs + REPLY_MARGIN_MS }) as never }),
    connection: { statement_timeout: options.statementTimeoutMs },
  }
}
