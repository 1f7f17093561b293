import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { pino } from 'pino'
import t from 'tap'
import { PrivateRedis, redisServerAvailable } from '../../bench/lib/private-services.js'
import { createDb } from '../../src/db/create-db.js'
import { startDeadlineSweep } from '../../src/jobs/deadline-sweep.js'
import { createWorkerRedis } from '../../src/lib/redis.js'
import { sweepOverdue } from '../../src/modules/deadlines/deadlines.service.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'
import { freePort } from '../helpers/tcp-proxy.js'
import { eventually } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

type App = Awaited<ReturnType<typeof buildTestApp>>['app']

/** Submits `n` referrals from `sender` to `recipient` (due in 24 h: nothing is overdue yet). */
async function submitReferrals(sender: TestAgency, recipient: TestAgency, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i += 1) {
    const document = referralDocument(sender, { agencyId: recipient.id }, { urgency: 'urgent' })
    await sender.client.request('POST', '/v1/referrals', {
      jws: await signReferral(document, sender.keys.signing),
    })
    ids.push(document.id)
  }
  return ids
}

/** Their deadlines pass: due a minute ago (the due time is a column; no clock is waited for). */
async function makeOverdue(app: App, ids: string[]) {
  await app.db
    .updateTable('referrals')
    .set({ ack_due_at: sql`now() - interval '1 minute'` })
    .where('id', 'in', ids)
    .execute()
}

/** Per referral: its escalation audit events and escalation messages. */
async function escalationCounts(app: App, ids: string[]) {
  const audit = await app.db
    .selectFrom('audit_events')
    .select(['referral_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('action', '=', 'referral.escalated')
    .groupBy('referral_id')
    .execute()
  const messages = await app.db
    .selectFrom('inbox_messages')
    .select(['referral_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('type', '=', 'escalation')
    .groupBy('referral_id')
    .execute()
  const of = (rows: { referral_id: string | null; n: string }[], id: string) =>
    Number(rows.find((row) => row.referral_id === id)?.n ?? 0)
  return ids.map((id) => ({ audit: of(audit, id), messages: of(messages, id) }))
}

const escalatedCount = async (app: App) =>
  Number(
    (
      await app.db
        .selectFrom('referrals')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('escalated_at', 'is not', null)
        .executeTakeFirstOrThrow()
    ).n,
  )

t.test('two workers and concurrent sweeps escalate each missed deadline exactly once', async (t) => {
  const { app, config } = await buildTestApp(t, { DEADLINE_SWEEP_MS: '20' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const ncp = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const ids = await submitReferrals(ro, de, 12)
  const first = await startTestWorker(t, config, app.hubKeys)
  const second = await startTestWorker(t, config, app.hubKeys)
  await eventually(async () => first.deadlines.active || second.deadlines.active, 'a sweep to take the lead')
  t.not(
    first.deadlines.active,
    second.deadlines.active,
    'single-active: one sweep leads, the other stands by',
  )
  t.equal(await escalatedCount(app), 0, 'nothing is due yet')

  await makeOverdue(app, ids)
  // Beside the two workers' timers: three more sweeps at once, from the standby too, and direct batches.
  const direct = {
    db: app.db,
    config,
    hubKeys: app.hubKeys,
    now: () => new Date(),
    batchSize: 5,
    onError: () => {},
  }
  const raced = await Promise.all([
    first.deadlines.runOnce(),
    second.deadlines.runOnce(),
    sweepOverdue(direct).then((o) => o.escalated),
    sweepOverdue(direct).then((o) => o.escalated),
    sweepOverdue(direct).then((o) => o.escalated),
  ])
  await eventually(async () => (await escalatedCount(app)) === ids.length, 'every referral escalated')
  t.ok(
    raced.reduce((a, b) => a + b, 0) <= ids.length,
    'the racing sweeps together escalated no referral twice',
  )
  for (const worker of [first, second]) {
    // runOnce joins a sweep still running (one its timer started may not have returned yet, its
    // escalations already committed); the run after it is a sweep of its own.
    await worker.deadlines.runOnce()
    t.equal(await worker.deadlines.runOnce(), 0, 'a sweep after: nothing')
  }
  t.same(
    await escalationCounts(app, ids),
    ids.map(() => ({ audit: 1, messages: 3 })),
    'one audit event and three messages (sender, recipient, NCP) per referral',
  )
  const ncpMessages = await app.db
    .selectFrom('inbox_messages')
    .select('referral_id')
    .where('agency_id', '=', ncp.id)
    .where('type', '=', 'escalation')
    .execute()
  t.equal(ncpMessages.length, ids.length)
})

t.test('a referral whose escalation fails does not hold back the others', async (t) => {
  const { app, config } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const ids = await submitReferrals(ro, de, 4)
  const poisoned = ids[1]!
  // An error the sweep does not foresee, for one referral only: its escalation fails each time.
  await sql`create function poison() returns trigger language plpgsql as $$
    begin
      if new.id = ${sql.lit(poisoned)}::uuid and new.escalated_at is not null then
        raise exception 'poisoned for the test';
      end if;
      return new;
    end $$`.execute(app.db)
  await sql`create trigger poison before update on referrals for each row execute function poison()`.execute(
    app.db,
  )
  await makeOverdue(app, ids)
  const { db, pool } = createDb(config, 'trm-test-sweep')
  const logs = new LogCapture()
  const escalated: number[] = []
  const sweep = await startDeadlineSweep({
    db,
    pool,
    config: { ...config, deadlineSweepMs: 3_600_000 },
    hubKeys: app.hubKeys,
    log: pino({ level: 'info' }, logs),
    batchSize: 2,
    onEscalated: (n) => escalated.push(n),
  })
  t.teardown(async () => {
    await sweep.close()
    await db.destroy()
  })

  // The first batch of two holds the poisoned one; the sweep goes on to the next batch all the same.
  await eventually(async () => (await escalatedCount(app)) === 3, 'the three others escalated')
  await sweep.runOnce() // the sweep that did it, if it is still running
  t.equal(await sweep.runOnce(), 0, 'the poisoned one fails again; nothing else is left')
  t.same(
    await escalationCounts(app, ids),
    ids.map((id) => (id === poisoned ? { audit: 0, messages: 0 } : { audit: 1, messages: 2 })),
    'the failed escalation left nothing behind (its transaction rolled back)',
  )
  t.match(logs.text, /deadline sweep: escalation failed; will retry/)
  t.match(logs.text, new RegExp(poisoned))

  await sql`drop trigger poison on referrals`.execute(app.db)
  await sql`drop function poison()`.execute(app.db)
  t.equal(await sweep.runOnce(), 1, 'once it can, the next sweep escalates it')
  t.same(
    await escalationCounts(app, ids),
    ids.map(() => ({ audit: 1, messages: 2 })),
  )
  t.equal(
    escalated.reduce((a, b) => a + b, 0),
    4,
    'each escalation counted once',
  )
})

t.test(
  'deadlines survive a Redis FLUSHALL: the sweep keeps nothing in Redis',
  { skip: redisServerAvailable() ? false : 'redis-server is not installed' },
  async (t) => {
    // A Redis of this test's own (FLUSHALL on the shared one would wipe other tests' queues).
    const dir = mkdtempSync(join(tmpdir(), 'trm-sweep-redis-'))
    const redis = new PrivateRedis(dir, await freePort())
    await redis.start()
    t.teardown(async () => {
      await redis.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    const { app, config } = await buildTestApp(t, { REDIS_URL: redis.url, DEADLINE_SWEEP_MS: '50' })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    const ids = await submitReferrals(ro, de, 3)
    const worker = await startTestWorker(t, config, app.hubKeys)
    await eventually(async () => worker.deadlines.active, 'the sweep to lead')

    const client = createWorkerRedis(redis.url)
    t.teardown(() => client.disconnect())
    t.equal(await client.flushall(), 'OK', 'Redis lost everything')
    // The running worker notices a flush by its relay's marker and puts back at once the marker and
    // its maintenance schedule (repeatable jobs); nothing else may be there, no deadline least of all.
    const left = await client.keys('*')
    t.same(
      left.filter((key) => !/:outbox-relayed:|:maintenance:/.test(key)),
      [],
      `after the flush: ${left.length === 0 ? 'nothing' : left.join(', ')}`,
    )
    // Their deadlines pass after the flush.
    await makeOverdue(app, ids)
    await eventually(
      async () => (await escalatedCount(app)) === ids.length,
      'every referral escalated',
      30_000,
    )
    t.same(
      await escalationCounts(app, ids),
      ids.map(() => ({ audit: 1, messages: 2 })),
      'each escalated once, its parties told',
    )
  },
)
