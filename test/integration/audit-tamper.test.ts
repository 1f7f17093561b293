import type { FastifyInstance } from 'fastify'
import { CompactSign, generateKeyPair } from 'jose'
import { type RawBuilder, sql } from 'kysely'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { DirectoryCache } from '../../src/modules/agencies/directory-cache.js'
import { chainHash } from '../../src/modules/audit/audit.core.js'
import { listAuditEvents, referralAuditTrail } from '../../src/modules/audit/audit.read.js'
import { sealPending } from '../../src/modules/audit/audit.service.js'
import { verifyAuditChain } from '../../src/modules/audit/audit.verify.js'
import { recordAuditEvent } from '../../src/modules/ledger/audit.service.js'
import { getReferral } from '../../src/modules/referrals/referrals.read.js'
import { submitReferral } from '../../src/modules/referrals/referrals.service.js'
import { submissionQueue } from '../../src/modules/referrals/submissions.repository.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { chainRows, seal, tamper, verify } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { statementFailure } from '../helpers/db-search.js'
import { referralDocument } from '../helpers/referrals.js'

/** Twelve events sealed in batches of four: checkpoints at seq 4, 8 and 12. */
async function sealedLog(t: Test) {
  const { app, config } = await buildTestApp(t)
  for (let n = 1; n <= 12; n += 1) {
    await recordAuditEvent(app.db, {
      actor: n % 3 ? '0193a3f0-0000-7000-8000-00000000000a' : 'system',
      action: n % 2 ? 'referral.read' : 'referral.submitted',
      target: { type: 'referral', id: `0193a3f0-0000-7000-8000-${String(n).padStart(12, '0')}` },
      referralId: `0193a3f0-0000-7000-8000-${String(n).padStart(12, '0')}`,
      requestId: `request-${n}`,
      outcome: 'success',
      details: { n },
    })
    if (n % 4 === 0) await seal(app)
  }
  const checkpoints = await app.db.selectFrom('audit_checkpoints').select('seq').orderBy('seq').execute()
  t.same(
    checkpoints.map((c) => c.seq),
    [4, 8, 12],
    'fixture: three checkpoints',
  )
  t.match(await verify(app), { intact: true, events: 12, checkpoints: 3 }, 'fixture: intact')
  t.match(
    await verifyAuditChain(app.db, app.hubKeys.verificationKeys, { pageSize: 5 }),
    { intact: true, events: 12, checkpoints: 3 },
    'fixture: intact, read five events at a time',
  )
  return { app, config }
}

const contentColumns = [
  'at',
  'actor',
  'action',
  'target_type',
  'target_id',
  'referral_id',
  'request_id',
  'outcome',
  'details',
] as const

t.test('as the superuser with the guards switched off, every kind of tampering is found', async (t) => {
  t.test('one field of one event changed', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`update audit_events set details = '{"n": 50}' where seq = 5`)
    t.match(await verify(app), { intact: false, throughSeq: 4, break: { seq: 5, kind: 'changed' } })
    t.match(await verify(app, 6), { intact: true, fromSeq: 6, events: 7 }, '--from 6 starts after it')
  })

  t.test('one event deleted', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`delete from audit_events where seq = 6`)
    t.match(await verify(app), { intact: false, break: { seq: 6, kind: 'missing' } })
    t.match(await verify(app, 6), { intact: false, break: { seq: 6, kind: 'missing' } })
    t.match(
      await verifyAuditChain(app.db, app.hubKeys.verificationKeys, { pageSize: 5 }),
      { intact: false, break: { seq: 6, kind: 'missing' } },
      'at a page boundary',
    )
  })

  t.test('the last event deleted', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`delete from audit_events where seq = 12`)
    t.match(await verify(app), { intact: false, throughSeq: 11, break: { seq: 12, kind: 'missing' } })
  })

  t.test("two events' contents swapped", async (t) => {
    const { app } = await sealedLog(t)
    const set = sql.join(contentColumns.map((c) => sql`${sql.ref(c)} = other.${sql.ref(c)}`))
    await tamper(
      app,
      'audit_events',
      sql`update audit_events as e set ${set}
        from audit_events as other
        where (e.seq, other.seq) in ((3, 7), (7, 3))`,
    )
    const rows = await chainRows(app)
    t.equal(rows[2]!.action, 'referral.read', 'seq 3 now holds what seq 7 held')
    t.match(await verify(app), {
      intact: false,
      break: { seq: 3, kind: 'reordered', detail: 'seq 3 holds the event sealed as seq 7' },
    })
  })

  t.test('two events swapped with their seqs (moved rows)', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(
      app,
      'audit_events',
      sql`update audit_events set seq = -seq where seq in (2, 9)`,
      sql`update audit_events set seq = case seq when -2 then 9 else 2 end where seq in (-2, -9)`,
    )
    t.match(await verify(app), { intact: false, break: { seq: 2, kind: 'reordered' } })
  })

  t.test("a checkpoint's signature replaced", async (t) => {
    const { app } = await sealedLog(t)
    const stored = await app.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('seq', '=', 8)
      .executeTakeFirstOrThrow()
    const [header, payload] = stored.jws.split('.')
    // Someone without the hub key signs the same statement under the hub's header.
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const forged = await new CompactSign(Buffer.from(payload!, 'base64url'))
      .setProtectedHeader(JSON.parse(Buffer.from(header!, 'base64url').toString()))
      .sign(privateKey)
    t.not(forged, stored.jws)
    t.equal(forged.split('.')[1], payload, 'the same claims')
    await tamper(app, 'audit_checkpoints', sql`update audit_checkpoints set jws = ${forged} where seq = 8`)
    t.match(await verify(app), { intact: false, throughSeq: 8, break: { seq: 8, kind: 'forged-checkpoint' } })
  })

  t.test('an event changed and the whole chain after it rehashed: the checkpoint disagrees', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`update audit_events set outcome = 'refused' where seq = 6`)
    await rehashFrom(app, 6)
    t.match(await verify(app), {
      intact: false,
      events: 8,
      break: { seq: 8, kind: 'changed', detail: /an event after seq 4 was altered/ },
    })
  })
})

/** What a tamperer with the database but not the hub key can do at best: recompute every link. */
async function rehashFrom(app: FastifyInstance, fromSeq: number) {
  const records = await app.db
    .selectFrom('audit_events')
    .select([
      'id',
      'seq',
      sql<string>`to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('at'),
      ...contentColumns.filter((c) => c !== 'at'),
      'prev_hash',
    ])
    .where('seq', '>=', fromSeq)
    .orderBy('seq')
    .execute()
  let prevHash = records[0]!.prev_hash!
  const updates: RawBuilder<unknown>[] = []
  for (const r of records) {
    const hash = chainHash(prevHash, {
      seq: r.seq!,
      at: r.at,
      actor: r.actor,
      action: r.action,
      target: { type: r.target_type, id: r.target_id },
      referralId: r.referral_id,
      requestId: r.request_id,
      outcome: r.outcome,
      details: r.details,
    })
    updates.push(sql`update audit_events set prev_hash = ${prevHash}, hash = ${hash} where id = ${r.id}`)
    prevHash = hash
  }
  await tamper(app, 'audit_events', ...updates)
}

t.test('an empty log is intact, and a checkpoint without events is not', async (t) => {
  const { app } = await buildTestApp(t)
  t.same(await verify(app), {
    intact: true,
    fromSeq: 1,
    throughSeq: 0,
    headHash: '0'.repeat(64),
    events: 0,
    checkpoints: 0,
    break: null,
  })
  await sql`insert into audit_checkpoints (seq, hash, at, jws) values (3, 'x', now(), 'x')`.execute(app.db)
  t.match(await verify(app), { intact: false, break: { seq: 1, kind: 'missing' } })
})

t.test('the guards: the application role lacks the privileges, and the triggers stop everyone', async (t) => {
  const { app } = await sealedLog(t)
  const failure = (statement: string, role?: 'trm_app') => statementFailure(app, statement, role)
  const denied = { code: '42501', message: /permission denied/ }
  const appendOnly = { code: '23000', message: /append-only/ }

  const refusals: [string, 'trm_app' | undefined, object][] = [
    ["update audit_events set action = 'referral.erased' where seq = 1", 'trm_app', denied],
    ["update audit_events set details = '{}' where seq is null", 'trm_app', denied],
    ['delete from audit_events where seq = 1', 'trm_app', denied],
    ['truncate audit_events', 'trm_app', denied],
    ["update audit_checkpoints set hash = 'x'", 'trm_app', denied],
    ['delete from audit_checkpoints', 'trm_app', denied],
    // The sealing columns are granted, but the trigger lets them be set once only.
    ["update audit_events set hash = repeat('0', 64) where seq = 1", 'trm_app', appendOnly],
    // Even the owner and the superuser, as long as the triggers are on.
    ['delete from audit_events where seq = 1', undefined, appendOnly],
    ["update audit_events set actor = 'someone' where seq = 1", undefined, appendOnly],
    ['update audit_events set seq = 99 where seq = 1', undefined, appendOnly],
    ['truncate audit_events', undefined, appendOnly],
    ["update audit_checkpoints set jws = 'x' where seq = 4", undefined, appendOnly],
    ['delete from audit_checkpoints where seq = 4', undefined, appendOnly],
    ['truncate audit_checkpoints', undefined, appendOnly],
  ]
  for (const [statement, role, expected] of refusals) {
    t.match(await failure(statement, role), expected, `${role ?? 'superuser'}: ${statement}`)
  }
  t.equal(
    await failure(
      `insert into audit_events (actor, action, target_type, target_id, outcome)
        values ('system', 'test.inserted', 'test', 'x', 'success')`,
      'trm_app',
    ),
    undefined,
    'trm_app: inserting is what it may do',
  )
  t.match(await verify(app), { intact: true }, 'nothing got through')
})

t.test('the application role can do all its work: requests, reads and sealing', async (t) => {
  const { app, config } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  // The app's own pool set-up, with every session switched to the application role.
  const options = encodeURIComponent(`-c search_path=${config.databaseSchema} -c role=trm_app`)
  const { db } = createDb({
    databaseUrl: `${config.databaseUrl}?options=${options}`,
    databaseSchema: undefined,
    databasePoolMax: 4,
  })
  t.teardown(() => db.destroy())
  const { rows } = await sql<{ role: string }>`select current_user as role`.execute(db)
  t.equal(rows[0]!.role, 'trm_app')

  const deps = {
    db,
    hubKeys: app.hubKeys,
    config,
    now: () => new Date(),
    directory: new DirectoryCache(db),
    submissions: submissionQueue(db, { statementsInFlight: 1 }),
  }
  const document = referralDocument(ro, { agencyId: de.id })
  const submitted = await submitReferral(deps, ro, await signReferral(document, ro.keys.signing), 'r-1')
  t.equal(submitted.status, 201)
  await getReferral(deps, document.id, { id: de.id, operator: false }, 'r-2')
  t.ok(
    (await sealPending({ db, hubKeys: app.hubKeys, origin: app.config.auditLog.origin })) >= 4,
    'the sealer runs as trm_app',
  )
  const trail = await referralAuditTrail(deps, document.id, ro.id, 'r-3')
  t.same(
    trail.events.map((e) => e.action),
    ['referral.submitted', 'referral.read'],
  )
  const listed = await listAuditEvents(deps, { id: de.id, operator: false }, {}, 'r-4')
  t.ok(listed.items.length >= 2)
  await sealPending({ db, hubKeys: app.hubKeys, origin: app.config.auditLog.origin })
  t.match(await verifyAuditChain(db, app.hubKeys.verificationKeys), { intact: true })
  t.match(await verify(app), { intact: true, events: 6 }, 'and the owner sees the same chain')
})
