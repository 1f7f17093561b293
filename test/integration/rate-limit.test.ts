import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createWorkerRedis } from '../../src/lib/redis.js'
import { AccessTokenVerifier } from '../../src/modules/auth/access-token.js'
import { createClientAssertion } from '../../src/sdk/client-assertion.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { freePort, TcpProxy } from '../helpers/tcp-proxy.js'
import { eventually } from '../helpers/webhook-receiver.js'

// Addresses from the documentation ranges (RFC 5737): one attacker, one agency, per test.
const ATTACKER = '198.51.100.7'
const AGENCY = '192.0.2.10'

/** Counts access-token verifications (signature checks) made by every app in this file. */
function countVerifications(t: Test) {
  const original = AccessTokenVerifier.prototype.verify
  const calls = { count: 0 }
  AccessTokenVerifier.prototype.verify = function (this: AccessTokenVerifier, ...args) {
    calls.count += 1
    return original.apply(this, args)
  }
  t.teardown(() => {
    AccessTokenVerifier.prototype.verify = original
  })
  return calls
}

/** Start-up does not wait for Redis, and the budgets are skipped until it answers. */
const redisConnected = (app: FastifyInstance) =>
  eventually(async () => app.redis.status === 'ready' || undefined, 'the Redis connection')

const listAgencies = (app: FastifyInstance, remoteAddress: string, authorization?: string) =>
  app.inject({
    method: 'GET',
    url: '/v1/agencies',
    remoteAddress,
    headers: authorization ? { authorization } : {},
  })

async function postToken(app: FastifyInstance, agency: TestAgency, remoteAddress: string) {
  const assertion = await createClientAssertion(
    agency.id,
    agency.keys.signing,
    `${app.config.publicUrl}/v1/oauth/token`,
  )
  return app.inject({
    method: 'POST',
    url: '/v1/oauth/token',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString(),
  })
}

type Answer = Awaited<ReturnType<FastifyInstance['inject']>>

function assertRateLimited(t: Test, response: Answer, limit: number, detail: RegExp) {
  t.equal(response.statusCode, 429, 'refused with 429')
  t.match(response.headers['content-type'], /^application\/problem\+json/)
  t.match(response.json(), { code: 'TRM_RATE_LIMITED', status: 429, detail })
  t.ok(Number(response.headers['retry-after']) >= 1, 'with Retry-After')
  t.equal(response.headers['x-ratelimit-limit'], String(limit), 'x-ratelimit-limit names the budget')
  t.equal(response.headers['x-ratelimit-remaining'], '0')
  t.ok(Number(response.headers['x-ratelimit-reset']) >= 1, 'x-ratelimit-reset in seconds')
}

t.test(
  'requests with no token or a bad one count before authentication: past the limit, 429 and no token is verified',
  async (t) => {
    const { app } = await buildTestApp(t, {
      RATE_LIMIT_MAX: '4',
      RATE_LIMIT_AUTH_FAILURES_MAX: '1000',
    })
    await redisConnected(app)
    const verifications = countVerifications(t)
    const answers = [
      await listAgencies(app, ATTACKER),
      await listAgencies(app, ATTACKER, 'Bearer not-a-token'),
      await listAgencies(app, ATTACKER),
      await listAgencies(app, ATTACKER, 'Bearer not.a.token'),
    ]
    t.same(
      answers.map((a) => a.statusCode),
      [401, 401, 401, 401],
      'within the limit: 401',
    )
    t.same(
      answers.map((a) => a.headers['x-ratelimit-remaining']),
      ['3', '2', '1', '0'],
      'each of them counted',
    )
    t.equal(verifications.count, 2, 'the two bad tokens were verified')

    for (const authorization of [undefined, 'Bearer not-a-token', 'Bearer not.a.token']) {
      assertRateLimited(t, await listAgencies(app, ATTACKER, authorization), 4, /4 requests per 60 s/)
    }
    t.equal(verifications.count, 2, 'past the limit no token is verified')
  },
)

t.test(
  'the failed-authentication budget trips before the general one, for the address that failed only',
  async (t) => {
    const { app } = await buildTestApp(t, {
      RATE_LIMIT_MAX: '1000',
      RATE_LIMIT_AUTH_FAILURES_MAX: '3',
    })
    await redisConnected(app)
    const agency = await addAgency(app, { country: 'RO' })
    const token = `Bearer ${await agency.client.accessToken()}`
    const verifications = countVerifications(t)

    for (let i = 0; i < 3; i += 1) {
      t.equal((await listAgencies(app, ATTACKER, 'Bearer forged.token.value')).statusCode, 401)
    }
    t.equal(verifications.count, 3)
    const refused = await listAgencies(app, ATTACKER, 'Bearer forged.token.value')
    assertRateLimited(t, refused, 3, /failed authentications from this address \(3 per 60 s\)/)
    t.equal(verifications.count, 3, 'the fourth bad token is not verified')
    t.equal(
      (await listAgencies(app, ATTACKER, token)).statusCode,
      429,
      'the address is refused until the window ends, whatever it sends',
    )

    const valid = await listAgencies(app, AGENCY, token)
    t.equal(valid.statusCode, 200, 'an agency at another address is served')
    t.equal(valid.headers['x-ratelimit-limit'], '1000', 'and sees the general budget')
    t.equal(valid.headers['x-ratelimit-remaining'], '999')
    t.equal((await listAgencies(app, AGENCY, token)).headers['x-ratelimit-remaining'], '998')
  },
)

t.test('the token endpoint has a budget of its own, stricter than the general one', async (t) => {
  const { app } = await buildTestApp(t, {
    RATE_LIMIT_MAX: '1000',
    RATE_LIMIT_TOKEN_MAX: '2',
  })
  await redisConnected(app)
  const agency = await addAgency(app, { country: 'RO' })
  const first = await postToken(app, agency, AGENCY)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-ratelimit-limit'], '2', 'the token budget is the one closest to running out')
  t.equal(first.headers['x-ratelimit-remaining'], '1')
  const second = await postToken(app, agency, AGENCY)
  t.equal(second.statusCode, 200)
  t.equal(second.headers['x-ratelimit-remaining'], '0')

  assertRateLimited(t, await postToken(app, agency, AGENCY), 2, /2 token requests per 60 s/)
  const issued = await app.db
    .selectFrom('audit_events')
    .select('id')
    .where('action', '=', 'token.issued')
    .execute()
  t.equal(issued.length, 2, 'the third assertion was not looked at')

  const other = await listAgencies(app, AGENCY, `Bearer ${first.json().access_token}`)
  t.equal(other.statusCode, 200, 'other routes still answer the address')
  t.equal(other.headers['x-ratelimit-limit'], '1000')
})

t.test(
  'two API processes share the budgets through Redis, each counting without waiting on it',
  async (t) => {
    const { app } = await buildTestApp(t, {
      RATE_LIMIT_MAX: '4',
      RATE_LIMIT_AUTH_FAILURES_MAX: '1000',
      RATE_LIMIT_SYNC_MS: '20',
    })
    // A second process on the same database and Redis prefix (one deployment, two API processes).
    const other = await buildApp(app.config, { hubKeys: app.hubKeys, logStream: new LogCapture() })
    t.teardown(() => other.close())
    await other.ready()
    await redisConnected(app)
    await redisConnected(other)

    const answers = []
    for (let i = 0; i < 4; i += 1) answers.push(await listAgencies(app, ATTACKER))
    t.same(
      answers.map((a) => a.headers['x-ratelimit-remaining']),
      ['3', '2', '1', '0'],
      'the first process spends the whole budget',
    )
    // Between the second process's requests, wait until Redis holds what it counted: its next request
    // then knows the first process's counts. Counting only its own, it would refuse the fifth.
    const redis = createWorkerRedis(app.config.redisUrl)
    t.teardown(() => redis.disconnect())
    const key = `${app.config.queuePrefix}:rate:all:${ATTACKER}`
    const redisHolds = (n: number) =>
      eventually(async () => (await redis.get(key)) === String(n) || undefined, `Redis to hold ${n}`)
    await redisHolds(4)
    let refused: Answer | undefined
    let attempts = 0
    while (!refused && attempts < 5) {
      attempts += 1
      const answer = await listAgencies(other, ATTACKER)
      if (answer.statusCode === 429) refused = answer
      else await redisHolds(4 + attempts)
    }
    t.ok(attempts <= 3, `the second process refused the address at its request ${attempts}, not the fifth`)
    if (!refused) return t.fail('never refused')
    assertRateLimited(t, refused, 4, /4 requests per 60 s/)
    t.equal((await listAgencies(other, AGENCY)).statusCode, 401, 'another address is still answered there')
  },
)

t.test(
  'while Redis is away the budgets are skipped, nothing refused; once it is back they count again',
  async (t) => {
    const redisTarget = new URL(REDIS_URL)
    const proxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379))
    const port = await proxy.start(await freePort())
    t.teardown(() => proxy.stop())
    const { app } = await buildTestApp(t, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_AUTH_FAILURES_MAX: '1',
    })
    const redisIs = (state: string) =>
      eventually(
        async () => (await app.inject('/health/ready')).json().checks.redis === state || undefined,
        `Redis ${state}`,
      )
    await redisIs('ok')
    const agency = await addAgency(app, { country: 'RO' })
    const token = `Bearer ${await agency.client.accessToken()}`

    await proxy.stop()
    await redisIs('unavailable')
    const valid = []
    const forged = []
    for (let i = 0; i < 5; i += 1) {
      valid.push((await listAgencies(app, AGENCY, token)).statusCode)
      forged.push((await listAgencies(app, ATTACKER, 'Bearer forged.token.value')).statusCode)
    }
    t.same(valid, [200, 200, 200, 200, 200], 'an agency is served past every budget')
    t.same(forged, [401, 401, 401, 401, 401], 'bad tokens get their 401, not 429 or 500')

    await proxy.start(port)
    await redisIs('ok')
    t.equal((await listAgencies(app, ATTACKER, 'Bearer forged.token.value')).statusCode, 401)
    assertRateLimited(
      t,
      await listAgencies(app, ATTACKER, 'Bearer forged.token.value'),
      1,
      /failed authentications/,
    )
  },
)
