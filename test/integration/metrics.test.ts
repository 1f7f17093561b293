import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { listenMetrics } from '../../src/lib/metrics-listener.js'
import { signReferral } from '../../src/sdk/documents.js'
import { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { PROMTOOL_MISSING, promtool, sampleValue } from '../helpers/metrics.js'
import { holdTable } from '../helpers/postgres.js'
import { startHubProcess } from '../helpers/processes.js'
import { referralDocument } from '../helpers/referrals.js'
import { freePort } from '../helpers/tcp-proxy.js'
import { eventually, receiverFor } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

/** `promtool check metrics` on a scrape: the exposition is valid and its names follow the conventions. */
function checkMetrics(t: Test, body: string, what: string) {
  const checked = promtool(['check', 'metrics'], body)
  if (!checked) return t.pass(`promtool check metrics (${what})`, { skip: PROMTOOL_MISSING })
  t.equal(checked.status, 0, `promtool check metrics passes on the ${what} scrape`)
  t.equal(checked.output.trim(), '', 'and finds nothing to say')
}

const refusalCode = async (request: Promise<unknown>) => {
  const error = await request.then(
    () => undefined,
    (e: unknown) => e,
  )
  return error instanceof HubRequestError ? (error.body as { code?: string }).code : undefined
}

t.test(
  'an API scrape counts referral submissions by outcome and reads the backlogs from Postgres',
  async (t) => {
    const { app } = await buildTestApp(t)
    const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    const listener = await listenMetrics(() => app.metrics(), { host: '127.0.0.1', port: 0 })
    t.teardown(() => listener.close())
    const scrape = async () => {
      const response = await fetch(listener.url)
      t.equal(response.status, 200)
      return response.text()
    }

    const document = referralDocument(ro, { agencyId: de.id })
    const jws = await signReferral(document, ro.keys.signing)
    const first = await ro.client.request<{ status: string }>('POST', '/v1/referrals', { jws })
    t.equal(first.status, 'submitted')
    await ro.client.request('POST', '/v1/referrals', { jws })
    const other = await signReferral({ ...document, needs: ['medical'] }, ro.keys.signing)
    t.equal(
      await refusalCode(ro.client.request('POST', '/v1/referrals', { jws: other })),
      'TRM_DUPLICATE_MISMATCH',
    )
    const anonymous = await app.inject({ method: 'POST', url: '/v1/referrals', payload: { jws } })
    t.equal(anonymous.statusCode, 401)

    const body = await scrape()
    const submissions = (labels: Record<string, string>) =>
      sampleValue(body, 'trm_referral_submissions_total', labels)
    t.equal(submissions({ outcome: 'created' }), 1, 'one created (201)')
    t.equal(submissions({ outcome: 'replayed' }), 1, 'one replay (200)')
    t.equal(submissions({ outcome: 'refused', code: 'TRM_DUPLICATE_MISMATCH' }), 1, 'a refusal, by its code')
    t.equal(submissions({ outcome: 'refused', code: 'TRM_AUTH_UNAUTHENTICATED' }), 1, 'a 401 is counted too')
    t.notMatch(body, /trm_referral_submissions_total\{[^}]*outcome="failed"/, 'nothing failed')

    t.equal(sampleValue(body, 'trm_hub_state_up'), 1, 'the backlogs were read')
    const inbox = (kind: string) => sampleValue(body, 'trm_inbox_unconfirmed_messages', { kind })
    t.equal(inbox('national_agency'), 1, "the referral waits in DE's inbox")
    t.equal(inbox('law_enforcement'), 0, 'every kind has a series')
    const headAge = sampleValue(body, 'trm_inbox_oldest_unconfirmed_age_seconds', { kind: 'national_agency' })
    t.ok(headAge !== undefined && headAge >= 0, 'with the age of its oldest message')
    t.equal(
      sampleValue(body, 'trm_outbox_backlog', { queue: 'deadlines' }),
      0,
      'no deadline job: the deadline sweep reads the referral',
    )
    t.equal(sampleValue(body, 'trm_deadlines_overdue'), 0, 'not due yet: nothing overdue')
    t.equal(sampleValue(body, 'trm_deadlines_oldest_overdue_age_seconds'), 0)
    t.equal(sampleValue(body, 'trm_outbox_backlog', { queue: 'webhooks' }), 0, 'a pull recipient: no webhook')
    t.ok((sampleValue(body, 'trm_audit_unsealed_events') ?? 0) > 0, 'no sealer runs: audit events wait')
    t.ok((sampleValue(body, 'trm_audit_seal_lag_seconds') ?? -1) >= 0, 'with the seal lag')
    t.equal(
      sampleValue(body, 'trm_webhook_deliveries', { kind: 'national_agency', status: 'pending' }),
      0,
      'no webhook pending',
    )
    for (const name of [
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      t.ok(sampleValue(body, name) !== undefined, `process metric ${name}`)
    }
    t.match(body, /^# TYPE nodejs_gc_duration_seconds histogram$/m, 'GC durations')
    checkMetrics(t, body, 'API')

    const page = await de.client.request<{ next: string }>('GET', '/v1/inbox')
    await de.client.request('POST', '/v1/inbox/confirm', { through: page.next })
    const after = await scrape()
    t.equal(
      sampleValue(after, 'trm_inbox_unconfirmed_messages', { kind: 'national_agency' }),
      0,
      'confirmed: gone',
    )
    t.equal(
      sampleValue(after, 'trm_inbox_oldest_unconfirmed_age_seconds', { kind: 'national_agency' }),
      0,
      'and nothing is old',
    )
  },
)

t.test('the worker counts webhook deliveries by outcome; the backlogs drain', async (t) => {
  const { app } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' })
  const flaky = await receiverFor(t, (n) => (n === 1 ? 503 : 204))
  const broken = await receiverFor(t, () => 500)
  const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true, push: flaky.url })
  const at = await addAgency(app, { country: 'AT', kind: 'social_services', push: broken.url })
  const submit = async (recipient: TestAgency) =>
    ro.client.request('POST', '/v1/referrals', {
      jws: await signReferral(referralDocument(ro, { agencyId: recipient.id }), ro.keys.signing),
    })
  await submit(de)
  await submit(at)
  const worker = await startTestWorker(t, app.config, app.hubKeys)

  const outcomes = await eventually(
    async () => {
      const body = (await worker.metrics.scrape()).body
      const count = (outcome: string) => sampleValue(body, 'trm_webhook_deliveries_total', { outcome })
      return count('delivered') === 1 && count('failed') === 1 && { body, count }
    },
    'one delivery delivered and one failed',
    30_000,
  )
  t.equal(outcomes.count('retry'), 2, "DE's first attempt and AT's first were refused and retried")
  t.equal(outcomes.count('cancelled'), 0)
  t.equal(outcomes.count('error'), 0, 'nothing failed on our side')
  t.equal(sampleValue(outcomes.body, 'trm_jobs_total', { queue: 'webhooks', result: 'completed' }), 1)
  t.equal(sampleValue(outcomes.body, 'trm_jobs_total', { queue: 'webhooks', result: 'failed' }), 3)
  t.equal(sampleValue(outcomes.body, 'trm_escalations_total'), 0, 'no deadline passed')
  t.equal(sampleValue(outcomes.body, 'trm_outbox_relay_failing'), 0, 'the relay reaches BullMQ')
  checkMetrics(t, outcomes.body, 'worker')

  // The API's view of the same hub, once the relay and the sealer have caught up.
  const drained = await eventually(
    async () => {
      const { body } = await app.metrics()
      const settled =
        sampleValue(body, 'trm_outbox_backlog', { queue: 'webhooks' }) === 0 &&
        sampleValue(body, 'trm_outbox_backlog', { queue: 'deadlines' }) === 0 &&
        sampleValue(body, 'trm_audit_unsealed_events') === 0
      return settled && body
    },
    'the outbox relayed and the audit events sealed',
    30_000,
  )
  t.equal(sampleValue(drained, 'trm_outbox_oldest_age_seconds'), 0)
  t.equal(sampleValue(drained, 'trm_audit_seal_lag_seconds'), 0)
  t.equal(
    sampleValue(drained, 'trm_webhook_deliveries', { kind: 'social_services', status: 'failed' }),
    1,
    'a dead letter',
  )
  t.equal(sampleValue(drained, 'trm_webhook_deliveries', { kind: 'national_agency', status: 'pending' }), 0)
  t.equal(
    sampleValue(drained, 'trm_inbox_unconfirmed_messages', { kind: 'national_agency' }),
    0,
    'delivered by webhook: confirmed',
  )
  t.equal(
    sampleValue(drained, 'trm_inbox_unconfirmed_messages', { kind: 'social_services' }),
    1,
    'never delivered: still in the inbox',
  )
})

t.test('the API gauges overdue deadlines; the worker counts an escalation', async (t) => {
  const { app } = await buildTestApp(t, { DEADLINE_SWEEP_MS: '50' })
  const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  await ro.client.request('POST', '/v1/referrals', {
    jws: await signReferral(
      referralDocument(ro, { agencyId: de.id }, { urgency: 'urgent' }),
      ro.keys.signing,
    ),
  })
  // Its deadline passed ten minutes ago, and no worker runs yet.
  await app.db.updateTable('referrals').set({ ack_due_at: sql`now() - interval '10 minutes'` }).execute()
  const overdue = (await app.metrics()).body
  t.equal(sampleValue(overdue, 'trm_deadlines_overdue'), 1, 'one referral overdue, not escalated')
  t.ok((sampleValue(overdue, 'trm_deadlines_oldest_overdue_age_seconds') ?? 0) >= 600, 'for ten minutes')

  const worker = await startTestWorker(t, app.config, app.hubKeys)
  const body = await eventually(
    async () => {
      const { body } = await worker.metrics.scrape()
      return sampleValue(body, 'trm_escalations_total') === 1 && body
    },
    'the escalation to be counted',
    30_000,
  )
  t.notOk(
    sampleValue(body, 'trm_jobs_total', { queue: 'deadlines', result: 'completed' }),
    'by the sweep, not a deadline job',
  )
  const escalated = await app.db.selectFrom('referrals').select('escalated_at').executeTakeFirstOrThrow()
  t.ok(escalated.escalated_at, 'the referral was escalated indeed')
  const after = (await app.metrics()).body
  t.equal(sampleValue(after, 'trm_deadlines_overdue'), 0, 'escalated: no longer overdue')
  t.equal(sampleValue(after, 'trm_deadlines_oldest_overdue_age_seconds'), 0)
})

t.test('a scrape answers while Postgres is away, without the backlog gauges', async (t) => {
  const { app } = await buildTestApp(t)
  const closed = await freePort()
  const away = await buildApp(
    { ...app.config, databaseUrl: `postgres://postgres@127.0.0.1:${closed}/postgres` },
    { hubKeys: app.hubKeys, logStream: new LogCapture() },
  )
  t.teardown(() => away.close())
  const listener = await listenMetrics(() => away.metrics(), { host: '127.0.0.1', port: 0 })
  t.teardown(() => listener.close())
  const response = await fetch(listener.url)
  t.equal(response.status, 200, 'the scrape succeeds')
  const body = await response.text()
  t.equal(sampleValue(body, 'trm_hub_state_up'), 0, 'it says the backlogs could not be read')
  t.equal(sampleValue(body, 'trm_dependency_up', { dependency: 'postgres' }), 0)
  for (const family of [
    'trm_inbox_unconfirmed_messages',
    'trm_outbox_backlog',
    'trm_outbox_oldest_age_seconds',
    'trm_audit_unsealed_events',
    'trm_audit_seal_lag_seconds',
    'trm_deadlines_overdue',
  ]) {
    t.notMatch(
      body,
      new RegExp(`^${family}(\\{| )`, 'm'),
      `no ${family} sample, rather than a stale or zero one`,
    )
  }
  t.ok(sampleValue(body, 'process_cpu_seconds_total') !== undefined, 'the process metrics are there')
  checkMetrics(t, body, 'Postgres-less')
})

t.test('a scrape is bounded: a locked backlog table times the read out, not the scrape', async (t) => {
  const { app, config, logs } = await buildTestApp(t)
  const held = await holdTable(t, `"${config.databaseSchema}".outbox`)
  t.teardown(() => held.release())
  const { body } = await app.metrics()
  t.equal(sampleValue(body, 'trm_hub_state_up'), 0, 'the read gave up (statement timeout)')
  t.notMatch(body, /^trm_outbox_backlog\{/m, 'no outbox gauge')
  t.match(logs.text, /"msg":"metrics: the backlog gauges could not be read"/, 'and the log says why')
  t.match(logs.text, /statement timeout/)
  await held.release()
  const { body: again } = await app.metrics()
  t.equal(sampleValue(again, 'trm_hub_state_up'), 1, 'read again once the lock is gone')
})

t.test('the worker process serves its metrics on a listener of its own', async (t) => {
  const { config } = await buildTestApp(t)
  const port = await freePort()
  const worker = startHubProcess(t, 'src/worker.ts', config, { WORKER_METRICS_PORT: String(port) })
  const url = `http://127.0.0.1:${port}/metrics`
  const body = await eventually(
    async () => {
      if (worker.child.exitCode !== null) throw new Error(`the worker exited:\n${worker.output()}`)
      return fetch(url).then(
        async (r) => (r.ok ? r.text() : undefined),
        () => undefined,
      )
    },
    'the worker metrics listener',
    60_000,
    100,
  )
  t.match(worker.output(), /"msg":"metrics listening"/)
  t.equal(sampleValue(body, 'trm_webhook_deliveries_total', { outcome: 'delivered' }), 0)
  t.equal(sampleValue(body, 'trm_escalations_total'), 0)
  t.ok(sampleValue(body, 'process_resident_memory_bytes'), 'process metrics')
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 404, 'metrics only')
  checkMetrics(t, body, 'worker process')
  worker.child.kill('SIGTERM')
  t.equal((await worker.exited).code, 0, 'it closes on SIGTERM, listener included')
})
