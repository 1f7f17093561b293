import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { DeliveryStatus } from '../../src/modules/deliveries/deliveries.core.js'
import { retryFailedDeliveries } from '../../src/modules/deliveries/deliveries.retry.js'
import type { DeliveryView } from '../../src/modules/deliveries/deliveries.service.js'
import type { ReferralView } from '../../src/modules/referrals/referrals.read.js'
import { signReferral } from '../../src/sdk/documents.js'
import { HubClient } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, receiverFor, type WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

type Page = { items: DeliveryView[]; next: string | null }
type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] }

/** Two attempts a few milliseconds apart: a delivery fails quickly, and nothing waits on time. */
const FAST = { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' }
const NOWHERE = 'http://127.0.0.1:9/hooks/trm'

/** Submits a referral and answers with the id of the recipient's inbox message for it. */
async function submit(app: FastifyInstance, sender: TestAgency, recipient: TestAgency) {
  const document = referralDocument(sender, { agencyId: recipient.id })
  await sender.client.request('POST', '/v1/referrals', {
    jws: await signReferral(document, sender.keys.signing),
  })
  const message = await app.db
    .selectFrom('inbox_messages')
    .select('id')
    .where('referral_id', '=', document.id)
    .where('agency_id', '=', recipient.id)
    .executeTakeFirstOrThrow()
  return { referralId: document.id, messageId: message.id }
}

async function call(
  app: FastifyInstance,
  client: HubClient,
  method: 'GET' | 'POST',
  url: string,
  body?: object,
) {
  const response = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${await client.accessToken()}` },
    ...(body ? { payload: body } : {}),
  })
  return {
    status: response.statusCode,
    body: response.json(),
    requestId: String(response.headers['x-request-id']),
  }
}

const retry = (app: FastifyInstance, client: HubClient, messageId: string) =>
  call(app, client, 'POST', `/v1/deliveries/${messageId}/retry`)

const retryAll = (app: FastifyInstance, client: HubClient, body: object = { status: 'failed' }) =>
  call(app, client, 'POST', '/v1/deliveries/retry', body)

const delivery = (app: FastifyInstance, messageId: string) =>
  app.db.selectFrom('deliveries').selectAll().where('message_id', '=', messageId).executeTakeFirstOrThrow()

/** Puts deliveries in a state behind the hub's back, for refusals that only read the state. */
const setStatus = (app: FastifyInstance, messageIds: string[], status: DeliveryStatus) =>
  app.db.updateTable('deliveries').set({ status }).where('message_id', 'in', messageIds).execute()

const webhookJobs = (app: FastifyInstance) =>
  app.db
    .selectFrom('outbox')
    .select(['id', 'payload'])
    .where('queue', '=', 'webhooks')
    .orderBy('created_at')
    .orderBy('id')
    .execute()

const webhookEvents = (app: FastifyInstance, messageId: string) =>
  app.db
    .selectFrom('audit_events')
    .select(['action', 'actor', 'request_id', 'outcome', 'details'])
    .where('target_id', '=', messageId)
    .where('action', 'like', 'webhook.%')
    .orderBy('id')
    .execute()

/** A BullMQ job once it has finished, with what its processor returned. */
const finishedJob = (app: FastifyInstance, jobId: string) =>
  eventually(async () => {
    const state = await app.queues.webhooks.getJobState(jobId)
    // Read the job after its state: one read before it finished would hold no return value yet.
    return state === 'completed' || state === 'failed' ? app.queues.webhooks.getJob(jobId) : undefined
  }, `webhook job ${jobId} to finish`).then((job) => job!)

const countOf = (receiver: WebhookReceiver, messageId: string) =>
  receiver.received.filter((r) => r.messageId === messageId).length

t.test('a failed delivery retried by its agency is delivered once', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  let up = false
  const receiver = await receiverFor(t, () => (up ? 204 : 503))
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  await startTestWorker(t, config, app.hubKeys)

  const { referralId, messageId } = await submit(app, ro, de)
  const failed = await eventually(async () => {
    const page = await de.client.request<Page>('GET', '/v1/deliveries?status=failed')
    return page.items[0]
  }, 'the delivery to fail')
  t.match(failed, { messageId, referralId, status: 'failed', attempts: 2, retries: 0, lastError: 'HTTP 503' })
  const [firstJob] = await webhookJobs(app)
  t.ok(await (await finishedJob(app, firstJob!.id)).isFailed(), 'the first job ended failed in BullMQ')

  up = true
  const answer = await retry(app, de.client, messageId)
  t.equal(answer.status, 202)
  t.match(answer.body, {
    messageId,
    referralId,
    status: 'pending',
    attempts: 2,
    retries: 1,
    lastError: 'HTTP 503',
    deliveredAt: null,
  })

  const jobs = await webhookJobs(app)
  t.equal(jobs.length, 2, 'one more webhook job in the outbox')
  t.not(jobs[1]!.id, jobs[0]!.id, 'under a new id: a new BullMQ job')
  t.same(jobs[1]!.payload, { messageId, retry: 1 })
  t.equal((await finishedJob(app, jobs[1]!.id)).returnvalue, 'delivered')
  t.ok(await (await app.queues.webhooks.getJob(jobs[0]!.id))!.isFailed(), 'the first job is kept, failed')

  const delivered = await de.client.request<Page>('GET', '/v1/deliveries?status=delivered')
  t.match(delivered.items, [{ messageId, status: 'delivered', attempts: 3, retries: 1 }])
  t.equal(countOf(receiver, messageId), 3, 'two failed POSTs, then the one that delivered it')
  t.equal(receiver.received.length, 3)
  const referral = await ro.client.request<ReferralView>('GET', `/v1/referrals/${referralId}`)
  t.equal(referral['status'], 'delivered', 'the referral moved to delivered')

  const events = await webhookEvents(app, messageId)
  t.same(
    events.map((e) => e.action),
    ['webhook.failed', 'webhook.retry_requested', 'webhook.delivered'],
  )
  t.same(events[1], {
    action: 'webhook.retry_requested',
    actor: de.id,
    request_id: answer.requestId,
    outcome: 'success',
    details: { agencyId: de.id, attempts: 2, retries: 1, bulk: false },
  })
})

t.test('the bulk form retries every failed delivery of the agency, and only those', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  let up = false
  const receiver = await receiverFor(t, () => (up ? 204 : 500))
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const fr = await addAgency(app, { country: 'FR', push: receiver.url })
  await startTestWorker(t, config, app.hubKeys)

  const ours = [await submit(app, ro, de), await submit(app, ro, de), await submit(app, ro, de)]
  const theirs = await submit(app, ro, fr)
  await eventually(async () => {
    const rows = await app.db
      .selectFrom('deliveries')
      .select('status')
      .where('status', '=', 'failed')
      .execute()
    return rows.length === 4
  }, 'four deliveries to fail')

  up = true
  const answer = await retryAll(app, de.client)
  t.equal(answer.status, 202)
  t.same(answer.body, { retried: 3 })

  const jobs = (await webhookJobs(app)).filter((j) => j.payload['retry'] === 1)
  t.same(jobs.map((j) => j.payload['messageId']).sort(), ours.map((o) => o.messageId).sort())
  for (const job of jobs) t.equal((await finishedJob(app, job.id)).returnvalue, 'delivered')
  const page = await de.client.request<Page>('GET', '/v1/deliveries')
  t.same(
    page.items.map((d) => [d.status, d.retries]),
    [
      ['delivered', 1],
      ['delivered', 1],
      ['delivered', 1],
    ],
  )
  for (const { messageId } of ours)
    t.equal(countOf(receiver, messageId), 3, 'delivered once after two failures')
  t.equal(countOf(receiver, theirs.messageId), 2, "another agency's failed delivery is not sent again")
  t.equal((await delivery(app, theirs.messageId)).status, 'failed')
  for (const { referralId } of ours) {
    const referral = await ro.client.request<ReferralView>('GET', `/v1/referrals/${referralId}`)
    t.equal(referral['status'], 'delivered')
  }

  const audited = await app.db
    .selectFrom('audit_events')
    .select(['actor', 'target_id', 'request_id', 'details'])
    .where('action', '=', 'webhook.retry_requested')
    .execute()
  t.same(
    audited.map((e) => e.target_id).sort(),
    ours.map((o) => o.messageId).sort(),
    'one event per delivery',
  )
  t.ok(
    audited.every(
      (e) => e.actor === de.id && e.request_id === answer.requestId && e.details['bulk'] === true,
    ),
    'each by the caller, in its request, marked bulk',
  )
  t.same((await retryAll(app, de.client)).body, { retried: 0 }, 'nothing failed is left')
})

t.test('the bulk form works through many deliveries in short transactions, each once', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: NOWHERE })
  const messages = []
  for (let i = 0; i < 5; i += 1) messages.push((await submit(app, ro, de)).messageId)
  await setStatus(app, messages, 'failed')

  const caller = { agencyId: de.id, operator: false, scopes: ['inbox:read'], requestId: randomUUID() }
  const deps = { db: app.db, config: app.config, batchSize: 2 }
  t.same(await retryFailedDeliveries(deps, caller, { status: 'failed' }), { retried: 5 })
  const rows = await app.db.selectFrom('deliveries').select(['status', 'retries']).execute()
  t.same(
    rows.map((r) => `${r.status}/${r.retries}`),
    Array(5).fill('pending/1'),
  )
  const retryJobs = (await webhookJobs(app)).filter((j) => j.payload['retry'] === 1)
  t.same(retryJobs.map((j) => j.payload['messageId']).sort(), [...messages].sort(), 'one new job each')
  t.same(await retryFailedDeliveries(deps, caller, { status: 'failed' }), { retried: 0 })
})

t.test('refusals', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: NOWHERE })
  const fr = await addAgency(app, { country: 'FR', push: NOWHERE })
  const operator = await addAgency(app, { country: 'BE', kind: 'hub_operator' })
  const [failed, delivered, pending] = [
    await submit(app, ro, de),
    await submit(app, ro, de),
    await submit(app, ro, de),
  ].map((m) => m.messageId) as [string, string, string]
  await setStatus(app, [failed], 'failed')
  await setStatus(app, [delivered], 'delivered')
  const jobsBefore = (await webhookJobs(app)).length

  t.test("another agency's delivery is the same 404 as an unknown one", async (t) => {
    const theirs = await retry(app, fr.client, failed)
    const unknown = await retry(app, fr.client, randomUUID())
    t.equal(theirs.status, 404)
    t.equal(theirs.body.code, 'TRM_NOT_FOUND')
    t.same(theirs.body.errors, [
      { pointer: '/params/messageId', detail: 'No delivery with this message id.' },
    ])
    const { instance: _a, ...a } = theirs.body
    const { instance: _b, ...b } = unknown.body
    t.same(a, b, 'nothing tells them apart')
  })

  t.test('only a failed delivery is retried: 409 for pending and delivered', async (t) => {
    for (const [messageId, state] of [
      [pending, 'pending'],
      [delivered, 'delivered'],
    ] as const) {
      const answer = await retry(app, de.client, messageId)
      t.equal(answer.status, 409, state)
      t.equal(answer.body.code, 'TRM_DELIVERY_NOT_FAILED')
      t.match(answer.body.detail, new RegExp(`is ${state}`))
      t.equal(answer.body.errors[0].pointer, '/params/messageId')
    }
    t.equal((await retry(app, de.client, 'not-a-uuid')).status, 400)
  })

  t.test('the bulk form: body and agency checks', async (t) => {
    const forbidden = await retryAll(app, ro.client, { status: 'failed', agencyId: de.id })
    t.equal(forbidden.status, 403)
    t.match(forbidden.body, { code: 'TRM_AUTH_FORBIDDEN', errors: [{ pointer: '/agencyId' }] })
    const unknown = await retryAll(app, operator.client, { status: 'failed', agencyId: randomUUID() })
    t.equal(unknown.status, 404)
    t.match(unknown.body, { code: 'TRM_NOT_FOUND', errors: [{ pointer: '/agencyId' }] })
    for (const body of [
      { status: 'pending' },
      {},
      { status: 'failed', extra: 1 },
      { status: 'failed', agencyId: 'x' },
    ]) {
      t.equal((await retryAll(app, de.client, body)).status, 400, JSON.stringify(body))
    }
  })

  t.test("an operator's token without agencies:admin reaches only the operator's own", async (t) => {
    const narrow = new HubClient({
      baseUrl: app.config.publicUrl,
      agencyId: operator.id,
      signingKey: operator.keys.signing,
      scope: 'inbox:read',
      fetch: injectFetch(app),
    })
    t.equal((await retry(app, narrow, failed)).status, 404)
    const bulk = await retryAll(app, narrow, { status: 'failed', agencyId: de.id })
    t.equal(bulk.status, 403)
    t.match(bulk.body.detail, /agencies:admin/)
  })

  t.test('nothing was changed by a refusal', async (t) => {
    t.match(await delivery(app, failed), { status: 'failed', retries: 0 })
    t.equal((await webhookJobs(app)).length, jobsBefore)
    const events = await app.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'webhook.retry_requested')
      .execute()
    t.same(events, [])
  })

  t.test('409 naming why when the agency takes no webhooks now', async (t) => {
    await de.client.request('PATCH', `/v1/agencies/${de.id}`, { delivery: { mode: 'pull' } })
    const one = await retry(app, de.client, failed)
    t.equal(one.status, 409)
    t.match(one.body, {
      code: 'TRM_DELIVERY_NO_WEBHOOK',
      detail: /pull/,
      errors: [{ pointer: '/params/messageId' }],
    })
    const all = await retryAll(app, de.client)
    t.equal(all.status, 409)
    t.match((all.body as Problem).detail, /pull/)
    t.equal((await delivery(app, failed)).status, 'failed', 'a failed delivery stays failed on the switch')

    const frFailed = (await submit(app, ro, fr)).messageId
    await setStatus(app, [frFailed], 'failed')
    await operator.client.request('PATCH', `/v1/agencies/${fr.id}`, { status: 'suspended' })
    const suspended = await retry(app, operator.client, frFailed)
    t.equal(suspended.status, 409)
    t.match(suspended.body, { code: 'TRM_DELIVERY_NO_WEBHOOK', detail: /suspended/ })
    const suspendedAll = await retryAll(app, operator.client, { status: 'failed', agencyId: fr.id })
    t.match(suspendedAll, { status: 409, body: { detail: /suspended/, errors: [{ pointer: '/agencyId' }] } })
  })
})

t.test('pending deliveries of an agency that switches to pull end cancelled', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  const receiver = await receiverFor(t, () => 204)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const pending = [(await submit(app, ro, de)).messageId, (await submit(app, ro, de)).messageId]
  const failed = (await submit(app, ro, de)).messageId
  await setStatus(app, [failed], 'failed')

  const patch = await app.inject({
    method: 'PATCH',
    url: `/v1/agencies/${de.id}`,
    headers: { authorization: `Bearer ${await de.client.accessToken()}` },
    payload: { delivery: { mode: 'pull' } },
  })
  t.equal(patch.statusCode, 200)
  const cancelled = await de.client.request<Page>('GET', '/v1/deliveries?status=cancelled')
  t.same(cancelled.items.map((d) => d.messageId).sort(), [...pending].sort())
  t.match(cancelled.items, [{ status: 'cancelled', attempts: 0, deliveredAt: null }, { status: 'cancelled' }])
  const stillFailed = await de.client.request<Page>('GET', '/v1/deliveries?status=failed')
  t.same(
    stillFailed.items.map((d) => d.messageId),
    [failed],
  )
  for (const messageId of pending) {
    t.same(await webhookEvents(app, messageId), [
      {
        action: 'webhook.cancelled',
        actor: de.id,
        request_id: String(patch.headers['x-request-id']),
        outcome: 'success',
        details: { agencyId: de.id, attempts: 0, deliveryMode: 'pull' },
      },
    ])
  }
  const updated = await app.db
    .selectFrom('audit_events')
    .select('details')
    .where('action', '=', 'agency.updated')
    .where('target_id', '=', de.id)
    .executeTakeFirstOrThrow()
  t.match(updated.details, { fields: 'delivery', cancelledDeliveries: 2 })

  // The jobs scheduled before the switch run now and leave every delivery as it is.
  await startTestWorker(t, config, app.hubKeys)
  const jobs = await webhookJobs(app)
  const outcomes = []
  for (const job of jobs) outcomes.push((await finishedJob(app, job.id)).returnvalue)
  t.same(outcomes, ['cancelled', 'cancelled', 'failed'])
  t.equal(receiver.received.length, 0, 'nothing was sent')
  const inbox = await app.db
    .selectFrom('inbox_messages')
    .select(['id', 'confirmed_at'])
    .where('agency_id', '=', de.id)
    .execute()
  t.equal(inbox.length, 3, 'every message is in the inbox')
  t.ok(
    inbox.every((m) => m.confirmed_at === null),
    'unconfirmed, for the pull reader',
  )
})

t.test('the webhook job cancels a pending delivery whose agency is no longer push', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  const receiver = await receiverFor(t, () => 204)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const { messageId } = await submit(app, ro, de)
  // As another process, or an operator's SQL, would: the PATCH that cancels in its transaction is bypassed.
  await app.db
    .updateTable('agencies')
    .set({ delivery_mode: 'pull', delivery_url: null })
    .where('id', '=', de.id)
    .execute()

  await startTestWorker(t, config, app.hubKeys)
  const [job] = await webhookJobs(app)
  t.equal((await finishedJob(app, job!.id)).returnvalue, 'cancelled')
  t.match(await delivery(app, messageId), { status: 'cancelled', attempts: 0 })
  t.same(await webhookEvents(app, messageId), [
    {
      action: 'webhook.cancelled',
      actor: 'system',
      request_id: null,
      outcome: 'success',
      details: { agencyId: de.id, attempts: 0, deliveryMode: 'pull' },
    },
  ])
  t.equal(receiver.received.length, 0)
  const cancelled = await de.client.request<Page>('GET', '/v1/deliveries?status=cancelled')
  t.equal(cancelled.items.length, 1)
  t.equal((await retry(app, de.client, messageId)).body.code, 'TRM_DELIVERY_NOT_FAILED', 'cancelled is final')
})

t.test("the operator retries another agency's failed deliveries, one or all", async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  let up = false
  const receiver = await receiverFor(t, () => (up ? 204 : 503))
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const operator = await addAgency(app, { country: 'BE', kind: 'hub_operator' })
  await startTestWorker(t, config, app.hubKeys)
  const one = await submit(app, ro, de)
  const two = await submit(app, ro, de)
  await eventually(async () => {
    const page = await de.client.request<Page>('GET', '/v1/deliveries?status=failed')
    return page.items.length === 2
  }, 'both deliveries to fail')

  up = true
  const single = await retry(app, operator.client, one.messageId)
  t.equal(single.status, 202)
  t.match(single.body, { messageId: one.messageId, status: 'pending', retries: 1 })
  const bulk = await retryAll(app, operator.client, { status: 'failed', agencyId: de.id })
  t.match(bulk, { status: 202, body: { retried: 1 } })
  await eventually(async () => {
    const page = await de.client.request<Page>('GET', '/v1/deliveries?status=delivered')
    return page.items.length === 2
  }, 'both to be delivered')
  for (const m of [one, two]) {
    const events = await webhookEvents(app, m.messageId)
    t.match(events, [
      { action: 'webhook.failed' },
      { action: 'webhook.retry_requested', actor: operator.id, details: { agencyId: de.id } },
      { action: 'webhook.delivered' },
    ])
    t.equal(countOf(receiver, m.messageId), 3)
  }
})

t.test('a job from before a retry leaves the delivery to the newer one', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  const receiver = await receiverFor(t, () => 204)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  const { messageId } = await submit(app, ro, de)
  // The first job comes back (a stalled job run again) after a retry handed the delivery to job 1.
  await app.db.updateTable('deliveries').set({ retries: 1 }).where('message_id', '=', messageId).execute()

  await startTestWorker(t, config, app.hubKeys)
  const [job] = await webhookJobs(app)
  t.equal((await finishedJob(app, job!.id)).returnvalue, 'superseded')
  t.equal(receiver.received.length, 0, 'the old job sends nothing')
  t.match(await delivery(app, messageId), { status: 'pending', attempts: 0, retries: 1 })
})

t.test('an attempt that ends after the switch to pull leaves the delivery cancelled', async (t) => {
  const { app, config } = await buildTestApp(t, { ...FAST, WEBHOOK_MAX_ATTEMPTS: '1' })
  const receiver = await receiverFor(t, () => 'hold')
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  await startTestWorker(t, config, app.hubKeys)
  const { messageId } = await submit(app, ro, de)
  await receiver.waitFor(1)
  await de.client.request('PATCH', `/v1/agencies/${de.id}`, { delivery: { mode: 'pull' } })
  t.equal((await delivery(app, messageId)).status, 'cancelled')

  await receiver.close() // the held POST fails now: its last attempt ends after the cancellation
  const [job] = await webhookJobs(app)
  t.ok(await (await finishedJob(app, job!.id)).isFailed(), 'the attempt failed')
  t.match(await delivery(app, messageId), { status: 'cancelled', attempts: 0 })
  t.same(
    (await webhookEvents(app, messageId)).map((e) => e.action),
    ['webhook.cancelled'],
    'no webhook.failed after it',
  )
})
