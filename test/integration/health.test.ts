import t from 'tap'
import { listenMetrics } from '../../src/lib/metrics-listener.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { referralDocument } from '../helpers/referrals.js'
import { freePort, TcpProxy } from '../helpers/tcp-proxy.js'

const redisTarget = new URL(REDIS_URL)

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

t.test('live and ready answer 200 when Postgres and Redis do', async (t) => {
  const { app } = await buildTestApp(t)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  await waitFor(async () => (await app.inject('/health/ready')).statusCode === 200)
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', checks: { postgres: 'ok', redis: 'ok', process: 'ok' } })
})

t.test('every answer, problems included, carries the secure headers', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/health/live', '/v1/referrals/not-a-referral', '/no-such-path']) {
    const response = await app.inject(url)
    t.match(
      response.headers,
      {
        'content-security-policy':
          /^(?=.*default-src 'self';)(?=.*style-src 'self' 'unsafe-inline')(?=.*script-src 'self';)/,
        'strict-transport-security': /max-age=\d+/,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
      },
      `${url} (${response.statusCode})`,
    )
    t.notOk(response.headers['x-powered-by'], `${url}: no x-powered-by`)
  }
})

t.test(
  'without Redis, ready stays 200 and names Redis as degraded, and referrals are accepted',
  async (t) => {
    const proxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379))
    const port = await proxy.start(await freePort())
    t.teardown(() => proxy.stop())
    const { app } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${port}` })
    t.ok(await waitFor(async () => (await app.inject('/health/ready')).json().status === 'ok'), 'ok at first')
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    await ro.client.accessToken() // a token's jti is recorded in Redis: taken while Redis is there

    await proxy.stop()
    t.ok(
      await waitFor(async () => (await app.inject('/health/ready')).json().checks.redis === 'unavailable'),
      'Redis reported away',
    )
    const down = await app.inject('/health/ready')
    t.equal(down.statusCode, 200, 'still ready: the outbox holds the work')
    t.same(down.json(), {
      status: 'degraded',
      checks: { postgres: 'ok', redis: 'unavailable', process: 'ok' },
    })
    const metrics = await app.metrics()
    t.match(metrics.body, /trm_dependency_up\{dependency="redis"\} 0/, 'the metric says so too')
    t.match(metrics.body, /trm_dependency_up\{dependency="postgres"\} 1/)
    const submitted = await ro.client.request<{ status: string }>('POST', '/v1/referrals', {
      jws: await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
    })
    t.equal(submitted.status, 'submitted', 'a referral is accepted (201) while Redis is away')

    await proxy.start(port)
    t.ok(await waitFor(async () => (await app.inject('/health/ready')).json().status === 'ok'), 'ok again')
  },
)

t.test('ready is 503 naming Postgres when the database is unreachable', async (t) => {
  const closed = await freePort()
  const { app } = await buildTestApp(t)
  // A second app on the same schema but a closed database port.
  const { buildApp } = await import('../../src/app.js')
  const broken = await buildApp(
    { ...app.config, databaseUrl: `postgres://postgres@127.0.0.1:${closed}/postgres` },
    {
      hubKeys: app.hubKeys,
      logStream: new (await import('../helpers/build-app.js')).LogCapture(),
    },
  )
  t.teardown(() => broken.close())
  const response = await broken.inject('/health/ready')
  t.equal(response.statusCode, 503)
  t.equal(response.json().checks.postgres, 'unavailable')
})

t.test(
  'metrics are served on a listener of their own, with the latency histogram and queue depths; the public port has no /metrics',
  async (t) => {
    const { app } = await buildTestApp(t)
    const onPublicPort = await app.inject('/metrics')
    t.equal(onPublicPort.statusCode, 404, 'the API answers 404 for /metrics')
    t.match(onPublicPort.json(), { code: 'TRM_ROUTE_NOT_FOUND' })

    const listener = await listenMetrics(() => app.metrics(), { host: '127.0.0.1', port: 0 })
    t.teardown(() => listener.close())
    t.match(listener.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    await app.inject('/health/live')
    await waitFor(async () => (await app.inject('/health/ready')).statusCode === 200)
    const response = await fetch(listener.url)
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /text\/plain/)
    const body = await response.text()
    t.match(body, /trm_http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*\}/)
    t.match(body, /trm_queue_jobs\{queue="deadlines",state="waiting"\} 0/)
    t.notMatch(body, /route="\/metrics"/, 'scrapes are not requests to the API')
    t.equal(
      (await fetch(new URL('/health/live', listener.url))).status,
      404,
      'the listener serves /metrics only',
    )
  },
)
