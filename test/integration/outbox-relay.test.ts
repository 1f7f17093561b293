import { pino } from 'pino'
import t from 'tap'
import { AfterCommit } from '../../src/db/after-commit.js'
import { createDb } from '../../src/db/create-db.js'
import { startOutboxRelay } from '../../src/jobs/outbox-relay.js'
import { closeQueues, createQueues } from '../../src/jobs/queues.js'
import { createProducerRedis, createWorkerRedis } from '../../src/lib/redis.js'
import { enqueue } from '../../src/modules/ledger/outbox.service.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp, deleteRedisPrefix, LogCapture } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { referralDocument } from '../helpers/referrals.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

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
    redis: producer,
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
  await enqueue(app.db, new AfterCommit(), config.databaseSchema, {
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

t.test('after Redis loses its data, the work still open is relayed again', async (t) => {
  const { app, config } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '3600000' })
  let answer = 503
  const receiver = new WebhookReceiver(() => answer)
  await receiver.start()
  t.teardown(() => receiver.close())
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const worker = await startTestWorker(t, config, app.hubKeys)
  const connection = createWorkerRedis(REDIS_URL)
  const queues = createQueues(connection, config.queuePrefix)
  t.teardown(async () => {
    await closeQueues(queues)
    connection.disconnect()
  })

  const document = referralDocument(ro, { agencyId: de.id })
  await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
  const outbox = await app.db.selectFrom('outbox').select(['id', 'queue']).execute()
  // A submission writes no deadline job: the deadline sweep reads the referral (deadline-sweep.test.ts).
  t.same(
    outbox.map((row) => row.queue),
    ['webhooks'],
  )
  const webhookJob = outbox[0]!.id
  // The webhook failed once and waits an hour for its retry.
  await receiver.waitFor(1, 20_000)
  const state = async () => (await queues.webhooks.getJob(webhookJob))?.getState()
  t.equal(
    await eventually(async () => {
      const now = await state()
      return now === 'delayed' ? now : undefined
    }, 'the webhook job to wait for its retry'),
    'delayed',
  )

  await deleteRedisPrefix(config) // as a restart without persistence, or a flush, would
  t.equal(await state(), undefined, 'Redis has lost the job')
  answer = 200

  const delivered = await eventually(
    async () => {
      const row = await app.db.selectFrom('deliveries').selectAll().executeTakeFirstOrThrow()
      return row.status === 'delivered' ? row : undefined
    },
    'the webhook to be delivered by the job relayed again',
    30_000,
  )
  t.equal(
    delivered.message_id,
    (
      await app.db
        .selectFrom('inbox_messages')
        .select('id')
        .where('agency_id', '=', de.id)
        .executeTakeFirstOrThrow()
    ).id,
  )
  t.match(worker.logs.text, /Redis lost its jobs; relaying the open work again/)
})
