import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import { createMailer, type Mailer } from '../adapters/mail.js'
import { createSmsGateway, type SmsGateway } from '../adapters/sms.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Outgoing mail: pooled SMTP, or the log in development. */
    mailer: Mailer
    /** Outgoing SMS and provider-side verification: Twilio Messages, Twilio Verify, or the log in development. */
    sms: SmsGateway
  }
}

export interface DeliveryPluginOptions {
  config: Config
  /** Already built adapters (tests); they are not closed with the app, their owner closes them. */
  mailer?: Mailer
  sms?: SmsGateway
}

async function deliveryPlugin(fastify: FastifyInstance, opts: DeliveryPluginOptions) {
  const mailer = opts.mailer ?? createMailer(opts.config.mail, fastify.log.child({ component: 'mail' }))
  const sms = opts.sms ?? createSmsGateway(opts.config.sms, fastify.log.child({ component: 'sms' }))
  if (!opts.mailer) fastify.addHook('onClose', async () => { await mailer.close() })
  if (!opts.sms) fastify.addHook('onClose', async () => { await sms.close() })
  fastify.log.info({ mailTransport: opts.mailer ? 'injected' : opts.config.mail.transport, smsTransport: opts.sms ? 'injected' : opts.config.sms.transport }, 'delivery ready')
  fastify.decorate('mailer', mailer)
  fastify.decorate('sms', sms)
}

export default fp(deliveryPlugin, { name: 'delivery', fastify: '5.x' })
