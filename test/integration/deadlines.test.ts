import { Queue } from 'bullmq'
import t from 'tap'
import { QUEUE_NAMES } from '../../src/jobs/queues.js'
import { createProducerRedis } from '../../src/lib/redis.js'
import type { ReferralView } from '../../src/modules/referrals/referrals.read.js'
import type { SubmissionResult } from '../../src/modules/referrals/referrals.service.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

t.test('acknowledgement deadlines escalate once, and only when missed', async (t) => {
  const { app, config } = await buildTestApp(t, {
    DEADLINE_IMMEDIATE_SECONDS: '1',
    DEADLINE_URGENT_SECONDS: '1',
    DEADLINE_ROUTINE_SECONDS: '2',
    DEADLINE_SWEEP_MS: '100',
  })
  const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const de = await addAgency(app, { country: 'DE', kind: 'ngo' })
  const ncp = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const redis = createProducerRedis(config.redisUrl)
  const deadlines = new Queue('deadlines', { connection: redis, prefix: config.queuePrefix })
  t.teardown(async () => {
    await deadlines.close()
    redis.disconnect()
  })
  t.ok(QUEUE_NAMES.includes('deadlines'))

  const submit = async (sender: TestAgency, recipient: TestAgency) => {
    const document = referralDocument(sender, { agencyId: recipient.id }, { urgency: 'urgent' })
    const result = await sender.client.request<SubmissionResult>('POST', '/v1/referrals', {
      jws: await signReferral(document, sender.keys.signing),
    })
    return { id: document.id, ackDueAt: result['ackDueAt'] as string }
  }
  const escalations = (referralId: string) =>
    app.db
      .selectFrom('inbox_messages')
      .select(['agency_id', 'body', 'created_at'])
      .where('referral_id', '=', referralId)
      .where('type', '=', 'escalation')
      .orderBy('agency_id')
      .execute()
  // A deadline job of an earlier release (the deadlines queue drains those for one release).
  // finishedOn and returnvalue are written together when the job completes.
  const finished = (jobId: string) =>
    eventually(
      async () => {
        const job = await deadlines.getJob(jobId)
        return job?.finishedOn ? job : undefined
      },
      `deadline job ${jobId}`,
      30_000,
    )

  // Answered first: due no later than `missed`, so the sweep that escalates `missed` has passed it.
  const answered = await submit(ro, de)
  const missed = await submit(ro, de)
  t.same(
    await app.db.selectFrom('outbox').selectAll().where('queue', '=', 'deadlines').execute(),
    [],
    'no deadline job per referral: the sweep reads ack_due_at',
  )
  // The acknowledgement API is built elsewhere: answer `received` straight in the database, in time.
  await app.db
    .updateTable('referrals')
    .set({ status: 'received', received_at: new Date() })
    .where('id', '=', answered.id)
    .execute()
  const worker = await startTestWorker(t, app.config, app.hubKeys)

  // The bound is where the test gives up, far past a 1 s deadline; when it escalated is read from the
  // database.
  const messages = await eventually(
    async () => {
      const rows = await escalations(missed.id)
      return rows.length > 0 ? rows : undefined
    },
    'the escalation',
    30_000,
  )
  t.same(
    messages.map((m) => m.agency_id),
    [ro.id, de.id, ncp.id].sort(),
    'one escalation each to the sender, the recipient and the DE national contact point',
  )
  for (const message of messages) t.same(message.body, { ackDueAt: missed.ackDueAt, status: 'submitted' })
  const row = await app.db
    .selectFrom('referrals')
    .selectAll()
    .where('id', '=', missed.id)
    .executeTakeFirstOrThrow()
  t.ok(row.escalated_at, 'escalated_at set')
  t.ok(row.escalated_at! >= row.ack_due_at, 'escalated not before the due time')
  t.ok(
    messages.every((m) => m.created_at >= row.ack_due_at),
    'the escalation messages written not before the due time',
  )
  const view = await ro.client.request<ReferralView>('GET', `/v1/referrals/${missed.id}`)
  t.equal(view['overdue'], true)
  const ncpView = await ncp.client.request<ReferralView>('GET', `/v1/referrals/${missed.id}`)
  t.equal(ncpView['id'], missed.id, 'the NCP may now read the escalated referral')
  const audited = () =>
    app.db
      .selectFrom('audit_events')
      .select(['actor', 'details'])
      .where('referral_id', '=', missed.id)
      .where('action', '=', 'referral.escalated')
      .execute()
  t.match(await audited(), [{ actor: 'system', details: { notified: 3, nationalContactPoint: ncp.id } }])

  // Sweeping again (the next sweep, another worker) changes nothing, nor does a deadline job of an
  // earlier release still queued for it.
  t.equal(await worker.deadlines.runOnce(), 0, 'the next sweep escalates nothing')
  const again = await deadlines.add(
    'ack-deadline',
    { referralId: missed.id },
    { jobId: `legacy-${missed.id}` },
  )
  t.equal((await finished(again.id!)).returnvalue, 'nothing')
  t.equal((await escalations(missed.id)).length, 3, 'still three messages')
  t.equal((await audited()).length, 1, 'still one audit event')
  const after = await app.db
    .selectFrom('referrals')
    .select('escalated_at')
    .where('id', '=', missed.id)
    .executeTakeFirstOrThrow()
  t.same(after.escalated_at, row.escalated_at)

  const answeredJob = await deadlines.add(
    'ack-deadline',
    { referralId: answered.id },
    { jobId: `legacy-${answered.id}` },
  )
  t.equal((await finished(answeredJob.id!)).returnvalue, 'nothing', 'answered in time: left alone')
  t.same(await escalations(answered.id), [])
  const answeredRow = await app.db
    .selectFrom('referrals')
    .select('escalated_at')
    .where('id', '=', answered.id)
    .executeTakeFirstOrThrow()
  t.equal(answeredRow.escalated_at, null)
})

t.test('the NCP is told once when it is itself the recipient; a job that fires early waits', async (t) => {
  const { app, config } = await buildTestApp(t, { DEADLINE_URGENT_SECONDS: '2', DEADLINE_SWEEP_MS: '100' })
  const ro = await addAgency(app, { country: 'RO' })
  const ncp = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const document = referralDocument(ro, { country: 'DE' }, { urgency: 'urgent' })
  const result = await ro.client.request<SubmissionResult>('POST', '/v1/referrals', {
    jws: await signReferral(document, ro.keys.signing),
  })
  // A deadline job of an earlier release, delivered early as a worker with a fast clock would: it must
  // wait for the due time. The sweep runs too; whichever comes first escalates, once.
  const redis = createProducerRedis(config.redisUrl)
  const deadlines = new Queue('deadlines', { connection: redis, prefix: config.queuePrefix })
  t.teardown(async () => {
    await deadlines.close()
    redis.disconnect()
  })
  const early = await deadlines.add(
    'ack-deadline',
    { referralId: document.id },
    { jobId: `legacy-${document.id}` },
  )
  await startTestWorker(t, config, app.hubKeys)
  const messages = await eventually(
    async () => {
      const rows = await app.db
        .selectFrom('inbox_messages')
        .select(['agency_id', 'created_at'])
        .where('referral_id', '=', document.id)
        .where('type', '=', 'escalation')
        .execute()
      return rows.length > 0 ? rows : undefined
    },
    'the escalation',
    30_000,
  )
  t.same(
    messages.map((m) => m.agency_id).sort(),
    [ro.id, ncp.id].sort(),
    'sender and recipient (the NCP), once each',
  )
  t.ok(
    messages.every((m) => m.created_at.getTime() >= new Date(result['ackDueAt']).getTime()),
    'not before ackDueAt',
  )
  const job = await eventually(
    async () => {
      const current = await deadlines.getJob(early.id!)
      return current?.finishedOn ? current : undefined
    },
    'the early job to finish',
    30_000,
  )
  t.ok(['escalated', 'nothing'].includes(job.returnvalue as string), 'the early job waited, then ran')
  const all = await app.db
    .selectFrom('inbox_messages')
    .select('agency_id')
    .where('referral_id', '=', document.id)
    .where('type', '=', 'escalation')
    .execute()
  t.equal(all.length, 2, 'still once each: the sweep and the job did not both escalate')
})
