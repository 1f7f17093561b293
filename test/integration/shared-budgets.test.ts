import type { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { createProducerRedis } from '../../src/lib/redis.js'
import { SharedBudgets } from '../../src/lib/shared-budgets.js'
import { REDIS_URL, uniqueName } from '../helpers/env.js'
import { freePort, TcpProxy } from '../helpers/tcp-proxy.js'
import { eventually } from '../helpers/webhook-receiver.js'

// The counters of the rate limit (src/plugins/security.ts) on the real Redis, two "processes" being two
// SharedBudgets on one key prefix. syncMs is long: each test synchronises by hand, when it says so.
const MINUTE = 60_000
const HOUR = 3_600_000

async function connected(t: Test, url = REDIS_URL): Promise<Redis> {
  const redis = createProducerRedis(url)
  t.teardown(() => redis.disconnect())
  await eventually(async () => redis.status === 'ready' || undefined, 'a Redis connection')
  return redis
}

function budgets(t: Test, redis: Redis, prefix: string, windowMs = MINUTE) {
  const shared = new SharedBudgets(redis, { prefix, windowMs, syncMs: HOUR })
  t.teardown(() => shared.close())
  return shared
}

const counts = (b: SharedBudgets, key: string, n: number) =>
  Array.from({ length: n }, () => b.take(key, true).count)

t.test(
  'one process counts at once; two processes see each other’s counts after a synchronisation',
  async (t) => {
    const redis = await connected(t)
    const prefix = `{${uniqueName('budgets')}}:`
    const a = budgets(t, redis, prefix)
    const b = budgets(t, await connected(t), prefix)

    t.same(counts(a, 'all:192.0.2.10', 3), [1, 2, 3], 'each request counted at once, before any Redis answer')
    t.same(
      counts(b, 'all:192.0.2.10', 2),
      [1, 2],
      'the other process knows only its own until it synchronises',
    )
    t.equal(await redis.get(`${prefix}all:192.0.2.10`), null, 'nothing was sent yet')

    await a.sync()
    await b.sync()
    t.equal(await redis.get(`${prefix}all:192.0.2.10`), '5', 'Redis holds the sum')
    t.equal(b.take('all:192.0.2.10', false).count, 5, 'the second to send learnt the sum')
    t.equal(a.take('all:192.0.2.10', false).count, 3, 'the first has not heard yet')
    await a.sync()
    t.equal(a.take('all:192.0.2.10', false).count, 5, 'and learns it with its next synchronisation')

    const ttl = await redis.pttl(`${prefix}all:192.0.2.10`)
    t.ok(ttl > 0 && ttl <= MINUTE, 'the key ends with the window')
    t.ok(a.take('all:192.0.2.10', false).resetMs <= MINUTE, 'and both processes end it when Redis does')

    t.equal(a.take('all:198.51.100.7', false).count, 0, 'another key is counted apart')
    await a.sync()
    t.equal(await redis.exists(`${prefix}all:198.51.100.7`), 0, 'a key only read is not created in Redis')
  },
)

t.test('a window starts with its first count and ends: the count starts again from 0', async (t) => {
  const redis = await connected(t)
  const prefix = `{${uniqueName('budgets')}}:`
  // Long enough that the key cannot expire between a synchronisation and the look that follows it,
  // even on a busy machine (a 500 ms window could).
  const a = budgets(t, redis, prefix, 3_000)
  t.same(counts(a, 'token:192.0.2.10', 2), [1, 2])
  await a.sync()
  t.equal(await redis.get(`${prefix}token:192.0.2.10`), '2')
  await eventually(
    async () => a.take('token:192.0.2.10', false).count === 0 || undefined,
    'the window to end',
  )
  await eventually(
    async () => (await redis.exists(`${prefix}token:192.0.2.10`)) === 0 || undefined,
    'the Redis key to expire',
  )
  t.same(counts(a, 'token:192.0.2.10', 1), [1], 'a new window')
  await a.sync()
  t.equal(await redis.get(`${prefix}token:192.0.2.10`), '1', 'counted afresh in Redis')
})

t.test('counts made while Redis is away are kept and sent once it is back', async (t) => {
  const target = new URL(REDIS_URL)
  const proxy = new TcpProxy(target.hostname, Number(target.port || 6379))
  const port = await proxy.start(await freePort())
  t.teardown(() => proxy.stop())
  const direct = await connected(t)
  const viaProxy = await connected(t, `redis://127.0.0.1:${port}`)
  const prefix = `{${uniqueName('budgets')}}:`
  const a = budgets(t, viaProxy, prefix)

  t.same(counts(a, 'all:192.0.2.10', 2), [1, 2])
  await proxy.stop()
  await eventually(async () => viaProxy.status !== 'ready' || undefined, 'the connection to drop')
  await a.sync()
  t.same(counts(a, 'all:192.0.2.10', 1), [3], 'still counted here, the earlier counts kept')
  t.equal(await direct.get(`${prefix}all:192.0.2.10`), null, 'nothing reached Redis')

  await proxy.start(port)
  await eventually(async () => viaProxy.status === 'ready' || undefined, 'the connection to come back')
  await a.sync()
  t.equal(await direct.get(`${prefix}all:192.0.2.10`), '3', 'every count arrived, none twice')
  t.equal(a.take('all:192.0.2.10', false).count, 3)
})
