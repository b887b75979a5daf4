import t from 'tap'
import SwaggerParser from '@apidevtools/swagger-parser'
import { build } from '../helper.js'

t.test('/docs/json is a valid OpenAPI 3 document and /docs serves the page', async (t) => {
  const { app } = await build(t)
  const reply = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(reply.statusCode, 200)
  const document = reply.json()
  t.match(document.openapi, /^3\./)
  await t.resolves(SwaggerParser.validate(structuredClone(document)), 'validates against the OpenAPI 3 schema')
  const paths = Object.keys(document.paths)
  t.ok(paths.includes('/health/ready'))
  const devices = document.paths as Record<string, Record<string, { tags?: string[]; security?: unknown[]; responses: Record<string, unknown> }>>
  for (const [method, path, statuses] of [
    ['post', '/api/devices/register', ['200', '201', '401']],
    ['get', '/api/devices/list', ['200', '401']],
    ['put', '/api/devices/update', ['200', '401', '404']],
    ['delete', '/api/devices/{id}', ['204', '401', '404']],
    ['post', '/api/devices/compatibility', ['200']],
  ] as const) {
    const operation = devices[path]?.[method]
    t.same(operation?.tags, ['devices'], `${method.toUpperCase()} ${path} is documented under devices`)
    for (const status of statuses) t.ok(operation?.responses[status], `${method.toUpperCase()} ${path} documents ${status}`)
    if (path !== '/api/devices/compatibility') t.same(operation?.security, [{ bearer: [] }], `${method.toUpperCase()} ${path} needs the bearer token`)
  }
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, { tags?: string[]; responses?: object }>>)) {
    for (const [method, operation] of Object.entries(operations)) {
      t.ok(operation.tags?.length, `${method.toUpperCase()} ${path} has a tag`)
      t.ok(operation.responses && Object.keys(operation.responses).length, `${method.toUpperCase()} ${path} declares responses`)
    }
  }
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
})
