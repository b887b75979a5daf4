import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from '../../config.js'
import { ValidationFailed } from '../../errors.js'
import { withErrors } from '../../schemas.js'
import {
  AddBody, AddReply, CreateKeyBody, DecryptBody, DecryptReply, EncryptBody, EncryptReply, KeyParams, ListKeysQuery,
  MAX_DATA_BYTES, PublicKeyInfo, SignBody, SignReply, VerifyBody, VerifyReply,
} from './schemas.js'
import { Type } from 'typebox'
import type { KeyInfo } from './key-store.js'

const tags = ['security']
const security = [{ bearer: [] }]
/** Requests per minute and client for the routes that do public-key arithmetic. */
const CRYPTO_WORK_PER_MINUTE = 120

function publicInfo(key: KeyInfo) {
  // The reply schema drops anything else; this keeps the shape explicit too.
  return { id: key.id, alg: key.alg, use: key.use, publicKey: key.publicKey ?? '', status: key.status, createdAt: key.createdAt }
}

/** Base64 text is capped by the schema; its last group can still carry a byte or two past the limit. */
function decodeData(base64: string): Buffer {
  const data = Buffer.from(base64, 'base64')
  if (data.length > MAX_DATA_BYTES) {
    throw new ValidationFailed({ message: `body.data is longer than ${MAX_DATA_BYTES} bytes`, details: { field: 'body.data', rule: 'maxLength' } })
  }
  return data
}

/** /api/security: thin routes over `fastify.crypto`. */
export default async function securityRoutes(fastify: FastifyInstance, opts: { config: Config }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { keys, operations } = fastify.crypto
  const cryptoWork = { rateLimit: { max: Math.min(opts.config.rateLimitPerMinute, CRYPTO_WORK_PER_MINUTE), timeWindow: 60_000 } }

  app.get('/keys', {
    onRequest: fastify.authenticate,
    schema: {
      tags, security, summary: 'Public keys of the service',
      querystring: ListKeysQuery,
      response: withErrors({ 200: Type.Array(PublicKeyInfo) }, 401),
    },
  }, async (request) => (await keys.list(request.query)).map(publicInfo))

  app.post('/keys', {
    onRequest: fastify.requireRole('admin'),
    schema: {
      tags, security, summary: 'Make a new active key of an algorithm (the previous one is rotated)',
      body: CreateKeyBody,
      response: withErrors({ 201: PublicKeyInfo }, 401, 403),
    },
  }, async (request, reply) => reply.code(201).send(publicInfo(await keys.create(request.body.alg))))

  app.post('/keys/:id/rotate', {
    onRequest: fastify.requireRole('admin'),
    schema: {
      tags, security, summary: 'Rotate an active key: a new key takes over, the old one keeps decrypting and verifying',
      params: KeyParams,
      response: withErrors({ 201: PublicKeyInfo }, 401, 403, 404, 409),
    },
  }, async (request, reply) => reply.code(201).send(publicInfo(await keys.rotate(request.params.id))))

  app.post('/encrypt', {
    onRequest: fastify.authenticate,
    config: cryptoWork,
    schema: {
      tags, security, summary: 'Encrypt data (RSA-OAEP-256) or an integer (exponential ElGamal on ristretto255)',
      body: EncryptBody,
      response: withErrors({ 200: EncryptReply }, 401, 404, 409),
    },
  }, async (request) => {
    const body = request.body
    if (body.alg === 'RSA-OAEP-256') {
      const { keyId, ciphertext } = await operations.encryptData(decodeData(body.data), body.keyId)
      return { keyId, alg: body.alg, ciphertext: ciphertext.toString('base64url') }
    }
    const { keyId, ciphertext } = await operations.encryptValue(body.value, body.keyId)
    return { keyId, alg: body.alg, ciphertext }
  })

  app.post('/decrypt', {
    onRequest: fastify.requireRole('admin'),
    config: cryptoWork,
    schema: {
      tags, security, summary: 'Decrypt a ciphertext made with one of the service keys (admin)',
      body: DecryptBody,
      response: withErrors({ 200: DecryptReply }, 401, 403, 404, 409),
    },
  }, async (request) => {
    const result = await operations.decrypt(request.body.keyId, request.body.ciphertext)
    return result.alg === 'RSA-OAEP-256' ? { data: result.data.toString('base64') } : { value: result.value }
  })

  app.post('/sign', {
    onRequest: fastify.requireRole('admin'),
    config: cryptoWork,
    schema: {
      tags, security, summary: 'Sign data with the active Ed25519 or RSA-PSS-SHA256 key (admin)',
      body: SignBody,
      response: withErrors({ 200: SignReply }, 401, 403),
    },
  }, async (request) => {
    const { keyId, alg, signature } = await operations.sign(decodeData(request.body.data), request.body.alg)
    return { keyId, alg, signature: signature.toString('base64url') }
  })

  app.post('/verify', {
    onRequest: fastify.authenticate,
    config: cryptoWork,
    schema: {
      tags, security, summary: 'Verify a signature made with one of the service keys',
      body: VerifyBody,
      response: withErrors({ 200: VerifyReply }, 401, 404, 409),
    },
  }, async (request) => ({
    valid: await operations.verify(request.body.keyId, decodeData(request.body.data), Buffer.from(request.body.signature, 'base64url')),
  }))

  app.post('/elgamal/add', {
    onRequest: fastify.authenticate,
    config: cryptoWork,
    schema: {
      tags, security, summary: 'Homomorphic sum of ElGamal ciphertexts made under one key (for tallying)',
      body: AddBody,
      response: withErrors({ 200: AddReply }, 401, 404, 409),
    },
  }, async (request) => ({ ciphertext: await operations.addCiphertexts(request.body.keyId, request.body.ciphertexts) }))
}
