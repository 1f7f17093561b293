import t from 'tap'
import { buildTestApp } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
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
  t.same(ready.json(), { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } })
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

t.test('ready turns 503 naming Redis when it is unreachable, and back when it returns', async (t) => {
  const proxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379))
  const port = await proxy.start(await freePort())
  t.teardown(() => proxy.stop())
  const { app } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${port}` })
  t.ok(await waitFor(async () => (await app.inject('/health/ready')).statusCode === 200), 'ready at first')

  await proxy.stop()
  t.ok(
    await waitFor(async () => (await app.inject('/health/ready')).statusCode === 503),
    'unready without Redis',
  )
  const down = await app.inject('/health/ready')
  t.same(down.json(), { status: 'unavailable', checks: { postgres: 'ok', redis: 'unavailable' } })
  t.equal((await app.inject('/health/live')).statusCode, 200, 'still live')

  await proxy.start(port)
  t.ok(await waitFor(async () => (await app.inject('/health/ready')).statusCode === 200), 'ready again')
})

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

t.test('metrics expose the HTTP latency histogram and queue depths', async (t) => {
  const { app } = await buildTestApp(t)
  await app.inject('/health/live')
  await waitFor(async () => (await app.inject('/health/ready')).statusCode === 200)
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /text\/plain/)
  t.match(response.body, /trm_http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*\}/)
  t.match(response.body, /trm_queue_jobs\{queue="deadlines",state="waiting"\} 0/)
})
