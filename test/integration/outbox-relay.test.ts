import { pino } from 'pino'
import t from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { startOutboxRelay } from '../../src/jobs/outbox-relay.js'
import { closeQueues, createQueues } from '../../src/jobs/queues.js'
import { createProducerRedis } from '../../src/lib/redis.js'
import { enqueue } from '../../src/modules/outbox/outbox.service.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

t.test('while Redis is away, the relay backs off instead of trying on every wake-up', async (t) => {
  const { app, config } = await buildTestApp(t)
  const target = new URL(REDIS_URL)
  const redisProxy = new TcpProxy(target.hostname, Number(target.port || 6379))
  await redisProxy.start()
  t.teardown(() => redisProxy.stop())
  const producer = createProducerRedis(`redis://127.0.0.1:${redisProxy.port}`)
  const queues = createQueues(producer, config.queuePrefix)
  // Connected once, as a running worker is; then Redis goes away.
  await queues.deadlines.getJobCounts()
  await redisProxy.stop()
  const { db, pool } = createDb(config, 'trm-test-relay')
  const logs = new LogCapture()
  const relay = await startOutboxRelay({
    db,
    pool,
    queues,
    schema: config.databaseSchema,
    config,
    log: pino({ level: 'info' }, logs),
    // No sweep and a back-off longer than the test: every attempt is one this test asked for.
    sweepMs: 3_600_000,
    backoff: { minMs: 3_600_000, maxMs: 3_600_000 },
  })
  t.teardown(async () => {
    await relay.close()
    await closeQueues(queues)
    producer.disconnect()
    await db.destroy()
  })
  await enqueue(app.db, config.databaseSchema, {
    queue: 'deadlines',
    name: 'ack-deadline',
    payload: { n: 1 },
  })

  const moved: number[] = []
  for (let wakeUp = 0; wakeUp < 20; wakeUp += 1) moved.push(await relay.runOnce())
  t.same(moved, Array(20).fill(0), 'nothing moved')
  t.equal(relay.failing, 1, 'one attempt failed; the other 19 wake-ups waited out the back-off')
  const warnings = logs.lines.filter((line) => line.includes('outbox relay: batch failed'))
  t.equal(warnings.length, 1, 'and it said so once')
  const pending = await app.db.selectFrom('outbox').select('id').where('relayed_at', 'is', null).execute()
  t.equal(pending.length, 1, 'the row still waits in Postgres')
})
