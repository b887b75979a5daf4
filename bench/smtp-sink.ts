import { SMTPServer } from 'smtp-server'
import type { AddressInfo } from 'node:net'

/**
 * An SMTP server for the benchmark: accepts every mail and keeps only the one-time code of the latest OTP
 * mail per recipient, read from the Subject (the code is the first 6-digit number of the subject). It does
 * not parse MIME, unlike test/fixtures/smtp.ts: at hundreds of mails a second, parsing would take CPU from
 * the service being measured.
 */
export interface SmtpSink {
  url: string
  /** The code of the latest OTP mail to `to`, if one arrived. */
  code(to: string): string | undefined
  readonly mails: number
  close(): Promise<void>
}

const OTP_SUBJECT = /^Subject: (\d{6}) /m

export async function startSmtpSink(): Promise<SmtpSink> {
  const codes = new Map<string, string>()
  let mails = 0
  const server = new SMTPServer({
    hideSTARTTLS: true,
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    closeTimeout: 50,
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username })
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        mails++
        const head = Buffer.concat(chunks).subarray(0, 4096).toString('latin1')
        const code = OTP_SUBJECT.exec(head)?.[1]
        if (code) for (const rcpt of session.envelope.rcptTo) codes.set(rcpt.address.toLowerCase(), code)
        callback()
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.server.address() as AddressInfo
  return {
    url: `smtp://bench:bench@127.0.0.1:${port}`,
    code: (to) => codes.get(to.toLowerCase()),
    get mails() { return mails },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
