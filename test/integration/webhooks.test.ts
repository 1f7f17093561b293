import { Queue } from 'bullmq'
import { compactVerify, createLocalJWKSet } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import { createWorkerRedis } from '../../src/lib/redis.js'
import type { DeliveryView } from '../../src/modules/deliveries/deliveries.service.js'
import type { ReferralView } from '../../src/modules/referrals/referrals.read.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, receiverFor } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

type Page = { items: DeliveryView[]; next: string | null }

const submit = async (sender: TestAgency, recipient: TestAgency) => {
  const document = referralDocument(sender, { agencyId: recipient.id })
  await sender.client.request('POST', '/v1/referrals', {
    jws: await signReferral(document, sender.keys.signing),
  })
  return document.id
}

t.test('a webhook that fails three times gets the signed message on the fourth try', async (t) => {
  const { app } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '50' })
  const receiver = await receiverFor(t, (n) => (n <= 3 ? 503 : 200))
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', push: receiver.url })
  await startTestWorker(t, app.config, app.hubKeys)

  const referralId = await submit(ro, de)
  const message = await app.db
    .selectFrom('inbox_messages')
    .selectAll()
    .where('referral_id', '=', referralId)
    .where('agency_id', '=', de.id)
    .executeTakeFirstOrThrow()
  const delivered = await eventually(async () => {
    const page = await de.client.request<Page>('GET', '/v1/deliveries')
    return page.items.find((d) => d['messageId'] === message.id && d['status'] === 'delivered')
  }, 'the delivery to be delivered')

  t.match(delivered, {
    messageId: message.id,
    referralId,
    status: 'delivered',
    attempts: 4,
    lastError: 'HTTP 503',
  })
  t.ok(delivered['deliveredAt'] && delivered['lastAttemptAt'], 'times recorded')
  t.equal(receiver.received.length, 4, 'four POSTs')
  t.ok(
    receiver.received.every((r) => r.messageId === message.id),
    'each carries TRM-Message-Id',
  )
  const last = receiver.received[3]!
  t.equal(last.contentType, 'application/json')
  // The receiver's side, with plain jose: put the body bytes back into the detached JWS and verify.
  const hubJwks = (await app.inject('/.well-known/jwks.json')).json()
  const [header, detached, signature] = last.signature.split('.')
  t.equal(detached, '', 'detached payload (RFC 7515 Appendix F)')
  const verified = await compactVerify(
    `${header}.${last.body.toString('base64url')}.${signature}`,
    createLocalJWKSet(hubJwks),
    { algorithms: ['EdDSA'] },
  )
  t.match(verified.protectedHeader, { alg: 'EdDSA', typ: 'trm-webhook+jws', kid: app.hubKeys.current.kid })
  const body = JSON.parse(last.body.toString('utf8'))
  t.same(Object.keys(body).sort(), ['createdAt', 'cursor', 'id', 'jws', 'referralId', 'type'])
  t.match(body, { id: message.id, type: 'referral', referralId })
  const stored = await app.db
    .selectFrom('referral_payloads')
    .innerJoin('referrals', 'referrals.seq', 'referral_payloads.referral_seq')
    .select('referral_payloads.jws')
    .where('referrals.id', '=', referralId)
    .executeTakeFirstOrThrow()
  t.equal(body.jws, stored.jws, "the referral's JWS, byte for byte")
  t.same(JSON.parse(Buffer.from(body.cursor, 'base64url').toString()), { x: message.txid, s: message.seq })

  const referral = await ro.client.request<ReferralView>('GET', `/v1/referrals/${referralId}`)
  t.equal(referral['status'], 'delivered', 'the referral is delivered (via webhook)')
  const audit = await app.db
    .selectFrom('audit_events')
    .select(['action', 'actor', 'target_id', 'details'])
    .where('referral_id', '=', referralId)
    .where('action', 'in', ['webhook.delivered', 'referral.delivered', 'webhook.failed'])
    .orderBy('action', 'desc')
    .execute()
  // Both written by the statement that records the 2xx: one event each, in no particular order.
  t.match(audit, [
    { action: 'webhook.delivered', actor: 'system', target_id: message.id, details: { attempts: 4 } },
    { action: 'referral.delivered', actor: 'system', details: { via: 'webhook' } },
  ])
  t.equal(audit.length, 2)
  const confirmed = await app.db
    .selectFrom('inbox_messages')
    .select('confirmed_at')
    .where('id', '=', message.id)
    .executeTakeFirstOrThrow()
  t.ok(confirmed.confirmed_at, 'a 2xx confirms the inbox message')
  const status = await app.db
    .selectFrom('inbox_messages')
    .selectAll()
    .where('agency_id', '=', ro.id)
    .where('referral_id', '=', referralId)
    .execute()
  t.match(status, [{ type: 'status', body: { status: 'delivered', via: 'webhook' } }], 'the sender is told')
})

t.test('a webhook that always fails ends failed; the message stays in the inbox', async (t) => {
  const { app, config } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '3' })
  const receiver = await receiverFor(t, () => 500)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  await startTestWorker(t, app.config, app.hubKeys)
  const connection = createWorkerRedis(config.redisUrl)
  const queue = new Queue('webhooks', { connection, prefix: config.queuePrefix })
  t.teardown(async () => {
    await queue.close()
    connection.disconnect()
  })

  const referralId = await submit(ro, de)
  const failed = await eventually(async () => {
    const page = await de.client.request<Page>('GET', '/v1/deliveries?status=failed')
    return page['items'][0]
  }, 'the delivery to fail')
  t.match(failed, { referralId, status: 'failed', attempts: 3, lastError: 'HTTP 500', deliveredAt: null })
  // The job leaves BullMQ just after the failure is committed. Once it has, and no other webhook
  // job exists, nothing is left that could POST again.
  const { id: jobId } = await app.db
    .selectFrom('outbox')
    .select('id')
    .where('queue', '=', 'webhooks')
    .executeTakeFirstOrThrow()
  // The state first, then the job: failed is final, so what is read after it is the last attempt's
  // record (a job read before its state could be the one of the attempt still running).
  const job = await eventually(async () => {
    return (await queue.getJobState(jobId)) === 'failed' ? queue.getJob(jobId) : undefined
  }, 'the job to fail')
  t.equal(job.attemptsMade, 3, 'failed after WEBHOOK_MAX_ATTEMPTS attempts')
  t.same(
    await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'completed', 'failed'),
    { waiting: 0, delayed: 0, active: 0, prioritized: 0, completed: 0, failed: 1 },
    'no other webhook job, none to run again',
  )
  t.equal(receiver.received.length, 3, 'WEBHOOK_MAX_ATTEMPTS tries, and no retry after the last')

  const inbox = await app.db
    .selectFrom('inbox_messages')
    .selectAll()
    .where('agency_id', '=', de.id)
    .where('referral_id', '=', referralId)
    .executeTakeFirstOrThrow()
  t.equal(inbox.id, failed['messageId'])
  t.equal(inbox.confirmed_at, null, 'still unconfirmed in the inbox')
  const events = await app.db
    .selectFrom('audit_events')
    .select(['action', 'actor', 'outcome'])
    .where('target_id', '=', inbox.id)
    .execute()
  t.same(events, [{ action: 'webhook.failed', actor: 'system', outcome: 'failed' }], 'audited once')
  const referral = await ro.client.request<ReferralView>('GET', `/v1/referrals/${referralId}`)
  t.equal(referral['status'], 'submitted', 'not delivered')
  const pending = await de.client.request<Page>('GET', '/v1/deliveries?status=pending')
  t.same(pending['items'], [])
})

t.test('GET /v1/deliveries: own deliveries only, newest first, cursor-paged', async (t) => {
  const { app } = await buildTestApp(t)
  const receiver = await receiverFor(t, () => 204)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const fr = await addAgency(app, { country: 'FR', push: receiver.url })
  const ids = []
  for (let i = 0; i < 5; i += 1) ids.push(await submit(ro, de))
  await submit(ro, fr)

  const first = await de.client.request<Page>('GET', '/v1/deliveries?limit=2')
  t.same(
    first['items'].map((d) => d['referralId']),
    [ids[4], ids[3]],
    'newest first',
  )
  t.match(first['items'][0], { status: 'pending', attempts: 0, lastError: null, lastAttemptAt: null })
  const second = await de.client.request<Page>('GET', `/v1/deliveries?limit=2&after=${first['next']}`)
  const third = await de.client.request<Page>('GET', `/v1/deliveries?limit=2&after=${second['next']}`)
  t.same(
    [...second['items'], ...third['items']].map((d) => d['referralId']),
    [ids[2], ids[1], ids[0]],
  )
  t.equal(third['next'], null)
  t.same((await ro.client.request<Page>('GET', '/v1/deliveries'))['items'], [], 'a pull agency has none')
  const bad = await app.inject({
    method: 'GET',
    url: '/v1/deliveries?after=bm9wZQ',
    headers: { authorization: `Bearer ${await de.client.accessToken()}` },
  })
  t.equal(bad.statusCode, 400)
  const unknownStatus = await app.inject({
    method: 'GET',
    url: '/v1/deliveries?status=lost',
    headers: { authorization: `Bearer ${await de.client.accessToken()}` },
  })
  t.equal(unknownStatus.statusCode, 400)
  t.equal((await app.inject('/v1/deliveries')).statusCode, 401)
})

t.test(
  'when the final outcome cannot be recorded, the job waits for the database instead of leaving',
  async (t) => {
    const { app, config } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '1' })
    const receiver = await receiverFor(t, () => 500)
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', push: receiver.url })
    const referralId = await submit(ro, de)
    const { id: jobId } = await app.db
      .selectFrom('outbox')
      .select('id')
      .where('queue', '=', 'webhooks')
      .executeTakeFirstOrThrow()
    // The audit insert of `webhook.failed` is part of the final write: take its table away for a while.
    await sql`alter table audit_events rename to audit_events_away`.execute(app.db)
    t.teardown(() => sql`alter table if exists audit_events_away rename to audit_events`.execute(app.db))
    await startTestWorker(t, config, app.hubKeys)
    const connection = createWorkerRedis(config.redisUrl)
    const queue = new Queue('webhooks', { connection, prefix: config.queuePrefix })
    t.teardown(async () => {
      await queue.close()
      connection.disconnect()
    })
    await receiver.waitFor(2)
    const waiting = (await queue.getJob(jobId))!
    t.not(await waiting.getState(), 'failed', 'the job has not left with the database unaware')
    t.match(await app.db.selectFrom('deliveries').selectAll().executeTakeFirstOrThrow(), {
      status: 'pending',
    })

    await sql`alter table audit_events_away rename to audit_events`.execute(app.db)
    const failed = await eventually(async () => {
      const row = await app.db.selectFrom('deliveries').selectAll().executeTakeFirstOrThrow()
      return row.status === 'failed' ? row : undefined
    }, 'the dead-letter state to be recorded')
    t.equal(failed.referral_id, referralId)
    t.equal(
      await eventually(async () => (await queue.getJob(jobId))!.isFailed() || undefined, 'the job to fail'),
      true,
    )
    const events = await app.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_id', '=', failed.message_id)
      .execute()
    t.same(events, [{ action: 'webhook.failed' }])
  },
)
