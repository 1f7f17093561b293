import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { Config } from '../../src/config.js'
import { createDb } from '../../src/db/create-db.js'
import { startAuditSealer } from '../../src/jobs/audit-sealer.js'
import { sealPending } from '../../src/modules/audit/audit.service.js'
import { recordAuditEvent } from '../../src/modules/ledger/audit.service.js'
import { signReferral } from '../../src/sdk/documents.js'
import { runWorker } from '../../src/worker/run-worker.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { chainRows, seal, seal as sealWith, verify } from '../helpers/audit.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'

/** Polls until `check` holds; false when it still does not after timeoutMs (a bound, not a measure). */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

const unsealed = async (app: FastifyInstance) =>
  Number(
    (
      await app.db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('audit_leaves')
                .select('index')
                .whereRef('audit_leaves.event_id', '=', 'audit_events.id'),
            ),
          ),
        )
        .executeTakeFirstOrThrow()
    ).n,
  )

const POOL_TIMEOUT = 'timeout exceeded when trying to connect'

/**
 * Posts every document at once and resends those that failed, as a client does with a 5xx (an
 * identical resubmission is safe). The only failure allowed: on a machine short of CPU, some of 200
 * requests queued on a pool of 10 connections wait past the pool's 5 s, and answer 500 having
 * written nothing. Resolves to the 201 answers, one per document.
 */
async function postAll(t: Test, app: FastifyInstance, logs: LogCapture, token: string, jwss: string[]) {
  const created: LightMyRequestResponse[] = []
  let pending = jwss
  let rounds = 0
  for (; pending.length > 0 && rounds < 10; rounds += 1) {
    const responses = await Promise.all(
      pending.map((jws) =>
        app.inject({
          method: 'POST',
          url: '/v1/referrals',
          headers: { authorization: `Bearer ${token}` },
          payload: { jws },
        }),
      ),
    )
    created.push(...responses.filter((r) => r.statusCode === 201))
    pending = pending.filter((_, i) => responses[i]!.statusCode === 500)
    t.ok(
      responses.every((r) => r.statusCode === 201 || r.statusCode === 500),
      'each accepted, or answered 500',
    )
  }
  const errors = logs.lines.filter((line) => /"level":(50|60)/.test(line))
  t.ok(
    errors.every((line) => line.includes(POOL_TIMEOUT)),
    'every 500 was a wait for a free connection',
    { errors: errors.filter((line) => !line.includes(POOL_TIMEOUT)).slice(0, 3) },
  )
  t.equal(created.length, jwss.length, `all ${jwss.length} created (${rounds} round(s))`)
  return created
}

/** seq 1..N without a gap or a repeat, every leaf hash the hash of its event. */
async function assertDenseChain(t: Test, app: FastifyInstance) {
  const rows = await chainRows(app)
  t.same(
    rows.map((r) => r.seq),
    rows.map((_, i) => i + 1),
    `seq 1..${rows.length}, dense`,
  )
  t.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'no event sealed twice')
  t.match(await verify(app), { intact: true, events: rows.length }, 'verifyAuditChain: intact')
  return rows
}

/** Signed submissions and the sender's token. */
async function submissions(from: TestAgency, to: TestAgency, count: number) {
  const jwss = await Promise.all(
    Array.from({ length: count }, () =>
      signReferral(referralDocument(from, { agencyId: to.id }), from.keys.signing),
    ),
  )
  return { jwss, token: await from.client.accessToken() }
}

function sealerFor(
  t: Test,
  config: Config,
  app: FastifyInstance,
  options: { sweepMs?: number; batchSize?: number },
) {
  const { db, pool } = createDb(config, 'trm-test-sealer')
  const logs = new LogCapture()
  const started = startAuditSealer({
    db,
    pool,
    hubKeys: app.hubKeys,
    origin: app.config.auditLog.origin,
    log: pino({}, logs),
    ...options,
  })
  t.teardown(async () => {
    await (await started).close()
    await db.destroy()
  })
  return { started, logs }
}

t.test('200 concurrent submissions seal into one dense tree, and none waited on the sealer', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const { jwss, token } = await submissions(ro, de, 200)
  await seal(app)
  const checkpointsBefore = await app.db.selectFrom('audit_tree_checkpoints').select('size').execute()

  const responses = await postAll(t, app, logs, token, jwss)
  const n = responses.length
  // No sealer ran: every request committed its event without one.
  t.equal(await unsealed(app), n, `the ${n} events wait, unsealed`)
  t.same(
    await app.db.selectFrom('audit_tree_checkpoints').select('size').execute(),
    checkpointsBefore,
    'and no checkpoint was written meanwhile',
  )

  t.equal(await seal(app, 64), n, 'sealed afterwards, in batches')
  const rows = await assertDenseChain(t, app)
  const submitted = rows.filter((r) => r.action === 'referral.submitted')
  t.same(
    submitted.map((r) => r.target_id).sort(),
    responses.map((r) => r.json().id as string).sort(),
    'one event per accepted referral',
  )
  const base = rows.length - n
  const batchEnds = Array.from({ length: Math.ceil(n / 64) }, (_, i) => base + Math.min(n, (i + 1) * 64))
  const checkpoints = await app.db
    .selectFrom('audit_tree_checkpoints')
    .select('size')
    .orderBy('size')
    .execute()
  t.same(
    checkpoints.map((c) => c.size).slice(checkpointsBefore.length),
    batchEnds,
    'a checkpoint after each batch',
  )
})

t.test('submissions while two sealer loops and extra sealPending calls run: still one tree', async (t) => {
  const { app, config, logs } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const { jwss, token } = await submissions(ro, de, 100)
  const first = sealerFor(t, config, app, { sweepMs: 5, batchSize: 7 })
  await first.started
  const second = sealerFor(t, config, app, { sweepMs: 5, batchSize: 7 })
  await second.started

  let stop = false
  const extra = (async () => {
    let sealed = 0
    while (!stop) {
      sealed += await sealPending({
        db: app.db,
        hubKeys: app.hubKeys,
        origin: app.config.auditLog.origin,
        batchSize: 3,
      })
      await new Promise((r) => setTimeout(r, 2))
    }
    return sealed
  })()
  await postAll(t, app, logs, token, jwss)
  t.ok(await waitFor(async () => (await unsealed(app)) === 0), 'everything sealed')
  stop = true
  await extra
  const active = [first, second].filter((s) => s.logs.text.includes('audit sealer: active'))
  t.equal(active.length, 1, 'one loop leads, the other waits')
  await assertDenseChain(t, app)

  // The leader goes away: the other takes over at its next sweep.
  const [leader, standby] = active[0] === first ? [first, second] : [second, first]
  await (await leader.started).close()
  await recordAuditEvent(app.db, {
    actor: 'system',
    action: 'test.failover',
    target: { type: 'test', id: '1' },
    outcome: 'success',
  })
  t.ok(await waitFor(async () => (await unsealed(app)) === 0), 'sealed by the standby')
  t.match(standby.logs.text, /audit sealer: active/)
  await assertDenseChain(t, app)
})

t.test('the worker seals on its own, sweep after sweep, and gives up the lead when it stops', async (t) => {
  const { app, config } = await buildTestApp(t)
  const logs = new LogCapture()
  const worker = await runWorker(config, app.hubKeys, pino({}, logs))
  let running = true
  t.teardown(() => running && worker.close())
  t.ok(await waitFor(async () => logs.text.includes('audit sealer: active')), 'the worker starts the sealer')
  const ro = await addAgency(app, { country: 'RO' })
  await ro.client.request('GET', '/v1/referrals')
  t.ok(await waitFor(async () => (await unsealed(app)) === 0), 'sealed with no one asking')
  t.match(await verify(app), { intact: true, events: 3 }, 'agency.created, token.issued, referral.listed')
  // Committed after everything was sealed: only a later sweep can seal it.
  await recordAuditEvent(app.db, {
    actor: 'system',
    action: 'test.later',
    target: { type: 'test', id: '2' },
    outcome: 'success',
  })
  t.ok(await waitFor(async () => (await unsealed(app)) === 0), 'and what comes later by a later sweep')
  t.match(await verify(app), { intact: true, events: 4 })

  await worker.close()
  running = false
  // Closing released the lead at once: a new sealer takes it on its first try, not after a timeout.
  const next = sealerFor(t, config, app, {})
  await next.started
  t.match(next.logs.text, /audit sealer: active/)
})

for (const [batchSize, remember] of [
  [undefined, false],
  [2, false],
  [2, true],
] as const) {
  t.test(
    `an event whose transaction commits after later ones were sealed still gets its leaf${batchSize ? ` (batches of ${batchSize}: later batches go on from the one before)` : ''}${remember ? ', the sealer remembering its horizon between runs' : ''}`,
    async (t) => {
      const { app } = await buildTestApp(t)
      const memory: { horizon?: string } = {}
      const seal = (app: FastifyInstance) =>
        remember
          ? sealPending({
              db: app.db,
              hubKeys: app.hubKeys,
              origin: app.config.auditLog.origin,
              memory,
              ...(batchSize ? { batchSize } : {}),
            })
          : sealWith(app, batchSize)
      const event = (id: string) => ({
        actor: 'system',
        action: 'test.horizon',
        target: { type: 'test', id },
        outcome: 'success' as const,
      })
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      let inserted: () => void = () => {}
      const insertedYet = new Promise<void>((resolve) => {
        inserted = resolve
      })
      // A long transaction: its event gets a lower id and an older transaction id than those after it.
      const slow = app.db.transaction().execute(async (trx) => {
        await recordAuditEvent(trx, event('slow'))
        inserted()
        await gate
      })
      await insertedYet
      for (let n = 0; n < 5; n += 1) await recordAuditEvent(app.db, event(`fast-${n}`))
      t.equal(await seal(app), 5, 'the committed ones are sealed; the open one is not visible yet')
      for (let n = 5; n < 8; n += 1) await recordAuditEvent(app.db, event(`fast-${n}`))
      t.equal(await seal(app), 3, 'a later batch, horizon held back by the open transaction')
      t.equal(await seal(app), 0, 'an idle run, the transaction still open')
      release()
      await slow
      t.equal(await seal(app), 1, 'once committed, it is sealed')
      t.equal(await unsealed(app), 0)
      const rows = await assertDenseChain(t, app)
      t.equal(rows.at(-1)!.target_id, 'slow', 'as the last leaf')
    },
  )
}

t.test(
  'after a backlog ended by a batch that went on from the one before, an idle sealer remembers a horizon',
  async (t) => {
    const { app } = await buildTestApp(t)
    const memory: { horizon?: string } = {}
    const seal = () =>
      sealPending({
        db: app.db,
        hubKeys: app.hubKeys,
        origin: app.config.auditLog.origin,
        batchSize: 2,
        memory,
      })
    for (let n = 0; n < 5; n += 1) {
      await recordAuditEvent(app.db, {
        actor: 'system',
        action: 'test.horizon',
        target: { type: 'test', id: `backlog-${n}` },
        outcome: 'success',
      })
    }
    await seal()
    const latest = () =>
      app.db
        .selectFrom('audit_tree_checkpoints')
        .select(['size', 'horizon'])
        .orderBy('size', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow()
    const afterBacklog = await latest()
    t.equal(
      afterBacklog.horizon,
      null,
      'the last batch went on from another: its checkpoint stores no horizon',
    )
    t.equal(memory.horizon, undefined, 'nor does the sealer remember one yet')
    t.equal(await seal(), 0, 'an idle run')
    t.type(memory.horizon, 'string', 'the idle run found everything sealed: its horizon is remembered')
    t.same(await latest(), afterBacklog, 'and nothing was written for it')
    await recordAuditEvent(app.db, {
      actor: 'system',
      action: 'test.horizon',
      target: { type: 'test', id: 'after' },
      outcome: 'success',
    })
    t.equal(await seal(), 1, 'an event after it is sealed')
    t.equal(await unsealed(app), 0)
    await assertDenseChain(t, app)
  },
)
