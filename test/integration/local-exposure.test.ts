import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import { buildTestApp } from '../helpers/build-app.js'

// What the hub shows and where: the reference page keeps the hub's own security headers and says
// what it is, metrics stay off the API (and out of its document), and Compose publishes on loopback.

const committed = JSON.parse(
  await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'),
) as {
  paths: Record<string, unknown>
  tags: { name: string; description: string }[]
}

t.test('/docs is titled as the hub reference and answers with the hub Content-Security-Policy', async (t) => {
  const { app } = await buildTestApp(t)
  const hubPolicy = (await app.inject('/health/live')).headers['content-security-policy']
  t.match(hubPolicy, /script-src 'self'/, 'the hub sends its own policy')

  let url = '/docs'
  let page = await app.inject(url)
  for (let hops = 0; page.statusCode >= 300 && page.statusCode < 400 && hops < 3; hops += 1) {
    url = new URL(String(page.headers['location']), `http://hub.test${url}`).pathname
    page = await app.inject(url)
  }
  t.equal(page.statusCode, 200)
  t.match(page.body, /<title>TRM Hub API reference<\/title>/)
  t.notMatch(page.body, /<title>Swagger UI<\/title>/)
  t.equal(page.headers['content-security-policy'], hubPolicy, 'the page keeps the hub policy')

  const assets = [
    ...page.body.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']/gi),
  ].map((m) => new URL(m[1]!, `http://hub.test${url}`).pathname)
  t.ok(assets.length > 0, 'the page has assets')
  for (const asset of assets) {
    const response = await app.inject(asset)
    t.equal(response.headers['content-security-policy'], hubPolicy, `${asset} keeps the hub policy`)
  }
  const initializer = assets.find((a) => a.endsWith('swagger-initializer.js'))
  t.ok(initializer, 'the initializer is a script of its own (no inline script to allow)')
  const script = (await app.inject(initializer!)).body
  t.match(script, /validatorUrl"?\s*:\s*null/, 'no validator badge loaded from another host')
})

t.test('/metrics is not on the API port, and the OpenAPI document says where it is', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.notOk(
    Object.keys(committed.paths).some((p) => p.includes('metrics')),
    'no metrics path in the document',
  )
  const infrastructure = committed.tags.find((tag) => tag.name === 'infrastructure')
  t.match(infrastructure?.description, /metrics are not part of this API.*METRICS_HOST:METRICS_PORT/)
})

t.test('docker compose publishes ports on the loopback address only', async (t) => {
  const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
    services: Record<string, { ports?: (string | { host_ip?: string })[] }>
  }
  const published = Object.entries(compose.services).flatMap(([name, service]) =>
    (service.ports ?? []).map((port) => ({ name, port })),
  )
  t.ok(published.length > 0, 'the api is published')
  for (const { name, port } of published) {
    const hostIp = typeof port === 'string' ? port.split(':').slice(0, -2).join(':') : port.host_ip
    t.equal(hostIp, '127.0.0.1', `${name}: ${JSON.stringify(port)} binds 127.0.0.1`)
  }
})
