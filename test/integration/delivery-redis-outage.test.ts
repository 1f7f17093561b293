import { Queue } from 'bullmq'
import t from 'tap'
import { createWorkerRedis } from '../../src/lib/redis.js'
import { countPending } from '../../src/modules/ledger/outbox.repository.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp, deleteRedisPrefix } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { referralDocument } from '../helpers/referrals.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

const REFERRALS = 40

t.test(
  'with Redis away from the API, referrals are accepted and every webhook arrives once later',
  async (t) => {
    const redisTarget = new URL(REDIS_URL)
    const proxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379))
    await proxy.start()
    t.teardown(() => proxy.stop())
    const { app, config } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${proxy.port}` })
    const receiver = new WebhookReceiver(() => 200)
    await receiver.start()
    t.teardown(() => receiver.close())
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', push: receiver.url })
    const fr = await addAgency(app, { country: 'FR', push: receiver.url })
    await ro.client.accessToken() // issuing a token records its jti in Redis: done while Redis is there

    await proxy.stop()
    const statuses: number[] = []
    for (let i = 0; i < REFERRALS; i += 1) {
      const recipient = i % 2 === 0 ? de : fr
      const jws = await signReferral(referralDocument(ro, { agencyId: recipient.id }), ro.keys.signing)
      const response = await app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { authorization: `Bearer ${await ro.client.accessToken()}` },
        payload: { jws },
      })
      statuses.push(response.statusCode)
    }
    t.same(new Set(statuses), new Set([201]), `all ${REFERRALS} accepted with Redis away`)
    t.equal(await countPending(app.db), REFERRALS, 'a webhook outbox row each (no deadline row), waiting')
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 200, 'still ready: the outbox holds the work')
    t.match(ready.json(), { status: 'degraded', checks: { postgres: 'ok', redis: 'unavailable' } })

    // The worker has its own path to Redis (the real one).
    const worker = await startTestWorker(t, { ...config, redisUrl: REDIS_URL }, app.hubKeys)
    await eventually(
      async () => (await countPending(app.db)) === 0 || undefined,
      'every outbox row to be relayed',
      15_000,
    )
    const expected = await app.db
      .selectFrom('inbox_messages')
      .select('id')
      .where('agency_id', 'in', [de.id, fr.id])
      .execute()
    t.equal(expected.length, REFERRALS)
    await eventually(
      async () => {
        const row = await app.db
          .selectFrom('deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'delivered')
          .executeTakeFirstOrThrow()
        return Number(row.n) === REFERRALS || undefined
      },
      'every delivery to be delivered',
      15_000,
    )
    // A job completes in Redis just after its delivery is committed. Once every webhook job has, and
    // none waits, runs or is delayed, nothing is left that could POST again: a late duplicate would
    // already be at the receiver.
    const connection = createWorkerRedis(REDIS_URL)
    const webhooks = new Queue('webhooks', { connection, prefix: config.queuePrefix })
    t.teardown(async () => {
      await webhooks.close()
      connection.disconnect()
    })
    const counts = await eventually(
      async () => {
        const now = await webhooks.getJobCounts(
          'completed',
          'waiting',
          'active',
          'delayed',
          'prioritized',
          'failed',
        )
        return now['completed'] === REFERRALS ? now : undefined
      },
      'every webhook job to complete',
      30_000,
    )
    t.same(
      counts,
      { completed: REFERRALS, waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 },
      'one webhook job per referral, all completed, none left to run',
    )
    await worker.close()

    const { ids, duplicates } = receiver.tally()
    const missing = expected.filter((m) => !ids.has(m.id))
    t.same(missing, [], 'no message id is missing at the receiver')
    t.equal(ids.size, REFERRALS, 'and none the receiver should not have had')
    t.comment(
      `receiver: ${receiver.received.length} requests, ${ids.size} distinct, ${duplicates} duplicates`,
    )
    t.equal(
      duplicates,
      0,
      'no duplicate POSTs in this run (delivery is at least once: receivers still deduplicate)',
    )
    const relayed = await app.db.selectFrom('outbox').select(['id', 'relayed_at']).execute()
    t.ok(
      relayed.every((r) => r.relayed_at !== null),
      'every outbox row relayed',
    )

    // The API's Redis keys went nowhere; the worker's are under the same prefix on the real Redis.
    await deleteRedisPrefix({ redisUrl: REDIS_URL, queuePrefix: config.queuePrefix })
  },
)
