import { generateKeyPairSync } from 'node:crypto'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { parseNote, signNote } from '../../src/lib/tlog/index.js'
import { DirectoryCache } from '../../src/modules/agencies/directory-cache.js'
import { listAuditEvents, referralAuditTrail } from '../../src/modules/audit/audit.read.js'
import { sealPending, toChainedEvent } from '../../src/modules/audit/audit.service.js'
import { leafOf } from '../../src/modules/audit/audit.tree.js'
import { verifyAuditChain } from '../../src/modules/audit/audit.verify.js'
import { TreeReader } from '../../src/modules/audit/tree.reader.js'
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

/** Twelve events sealed in batches of four: checkpoints at tree sizes 4, 8 and 12. */
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
  const checkpoints = await app.db
    .selectFrom('audit_tree_checkpoints')
    .select('size')
    .orderBy('size')
    .execute()
  t.same(
    checkpoints.map((c) => c.size),
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

/** The event row of leaf `index`. */
const eventAt = (index: number) => sql`(select event_id from audit_leaves where index = ${index})`

t.test('as the superuser with the guards switched off, every kind of tampering is found', async (t) => {
  t.test('one field of one event changed', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(
      app,
      'audit_events',
      sql`update audit_events set details = '{"n": 50}' where id = ${eventAt(4)}`,
    )
    t.match(await verify(app), { intact: false, throughSeq: 4, break: { seq: 5, index: 4, kind: 'changed' } })
    t.match(await verify(app, 6), { intact: true, fromSeq: 6, events: 7 }, '--from 6 starts after it')
  })

  t.test('one event deleted', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`delete from audit_events where id = ${eventAt(5)}`)
    t.match(await verify(app), { intact: false, break: { seq: 6, index: 5, kind: 'missing' } })
    t.match(await verify(app, 6), { intact: false, break: { seq: 6, kind: 'missing' } })
    t.match(
      await verifyAuditChain(app.db, app.hubKeys.verificationKeys, { pageSize: 5 }),
      { intact: false, break: { seq: 6, kind: 'missing' } },
      'at a page boundary',
    )
  })

  t.test('one event deleted with its leaf', async (t) => {
    const { app } = await sealedLog(t)
    const id = await app.db
      .selectFrom('audit_leaves')
      .select('event_id')
      .where('index', '=', 6)
      .executeTakeFirstOrThrow()
    await tamper(app, 'audit_leaves', sql`delete from audit_leaves where index = 6`)
    await tamper(app, 'audit_events', sql`delete from audit_events where id = ${id.event_id}`)
    t.match(await verify(app), { intact: false, throughSeq: 6, break: { seq: 7, index: 6, kind: 'missing' } })
  })

  t.test('the last event deleted', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_events', sql`delete from audit_events where id = ${eventAt(11)}`)
    t.match(await verify(app), { intact: false, throughSeq: 11, break: { seq: 12, kind: 'missing' } })
  })

  t.test('the last leaf and its event deleted: the checkpoint covers more than the tree', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(app, 'audit_leaves', sql`delete from audit_leaves where index = 11`)
    t.match(await verify(app), {
      intact: false,
      throughSeq: 11,
      break: { seq: 12, index: 11, kind: 'missing' },
    })
  })

  t.test("two events' contents swapped", async (t) => {
    const { app } = await sealedLog(t)
    const set = sql.join(contentColumns.map((c) => sql`${sql.ref(c)} = other.${sql.ref(c)}`))
    await tamper(
      app,
      'audit_events',
      sql`update audit_events as e set ${set}
        from audit_events as other
        where (e.id, other.id) in ((${eventAt(2)}, ${eventAt(6)}), (${eventAt(6)}, ${eventAt(2)}))`,
    )
    const rows = await chainRows(app)
    t.equal(rows[2]!.action, 'referral.read', 'seq 3 now holds what seq 7 held')
    t.match(await verify(app), {
      intact: false,
      break: { seq: 3, index: 2, kind: 'reordered', detail: 'seq 3 holds the event sealed as seq 7' },
    })
  })

  t.test('two events swapped between their leaves (moved rows)', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(
      app,
      'audit_leaves',
      sql`update audit_leaves set event_id = -event_id where index in (1, 8)`,
      sql`update audit_leaves as l set event_id = -o.event_id
        from audit_leaves as o where (l.index, o.index) in ((1, 8), (8, 1))`,
    )
    t.match(await verify(app), { intact: false, break: { seq: 2, index: 1, kind: 'reordered' } })
  })

  t.test("a checkpoint's signature replaced", async (t) => {
    const { app } = await sealedLog(t)
    const stored = await app.db
      .selectFrom('audit_tree_checkpoints')
      .selectAll()
      .where('size', '=', 8)
      .executeTakeFirstOrThrow()
    // Someone without the hub key signs the same checkpoint under the hub's name.
    const { text } = parseNote(stored.note)
    const forged = signNote(text, app.config.auditLog.origin, generateKeyPairSync('ed25519').privateKey)
    t.not(forged, stored.note)
    await tamper(
      app,
      'audit_tree_checkpoints',
      sql`update audit_tree_checkpoints set note = ${forged} where size = 8`,
    )
    t.match(await verify(app), { intact: false, throughSeq: 8, break: { seq: 8, kind: 'forged-checkpoint' } })
  })

  t.test('an event changed and its leaf rehashed: the checkpoint disagrees', async (t) => {
    const { app } = await sealedLog(t)
    await tamper(
      app,
      'audit_events',
      sql`update audit_events set outcome = 'refused' where id = ${eventAt(5)}`,
    )
    const [row] = await listSealedRow(app, 5)
    const hash = leafOf(toChainedEvent(row!, 6))
    await tamper(app, 'audit_leaves', sql`update audit_leaves set hash = ${hash} where index = 5`)
    t.match(await verify(app), {
      intact: false,
      throughSeq: 4,
      break: { seq: 8, kind: 'changed', detail: /an event after seq 4 was altered/ },
    })
  })
})

t.test('a full tile: a stored tile hash or leaf hash changed is found at its leaf', async (t) => {
  const { app } = await buildTestApp(t)
  for (let n = 1; n <= 300; n += 1) {
    await recordAuditEvent(app.db, {
      actor: 'system',
      action: 'referral.read',
      target: { type: 'referral', id: `0193a3f0-0000-7000-8000-${String(n).padStart(12, '0')}` },
      outcome: 'success',
      details: { n },
    })
  }
  await seal(app, 100)
  const tiles = await app.db.selectFrom('audit_tiles').select(['level', 'index']).execute()
  t.same(tiles, [{ level: 0, index: 0 }], 'one full tile')
  t.match(await verify(app), { intact: true, events: 300, checkpoints: 3 })
  const zero = new Uint8Array(32)
  await tamper(
    app,
    'audit_tiles',
    sql`update audit_tiles set hashes = overlay(hashes placing ${zero} from ${10 * 32 + 1} for 32)`,
  )
  t.match(await verify(app), { intact: false, break: { seq: 11, index: 10, kind: 'changed' } })
})

function listSealedRow(app: Awaited<ReturnType<typeof buildTestApp>>['app'], index: number) {
  return app.db
    .selectFrom('audit_events')
    .select([
      'id',
      sql<string>`to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('at'),
      ...contentColumns.filter((c) => c !== 'at'),
    ])
    .where(sql<boolean>`id = ${eventAt(index)}`)
    .execute()
}

t.test('an empty log is intact, and a checkpoint without leaves is not', async (t) => {
  const { app } = await buildTestApp(t)
  t.same(await verify(app), {
    intact: true,
    fromSeq: 1,
    throughSeq: 0,
    headHash: '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
    events: 0,
    checkpoints: 0,
    break: null,
  })
  await sql`insert into audit_tree_checkpoints (size, root, note, at)
    values (3, ${new Uint8Array(32)}, 'x', now())`.execute(app.db)
  t.match(await verify(app), { intact: false, break: { seq: 1, kind: 'missing' } })
})

t.test('the guards: the application role lacks the privileges, and the triggers stop everyone', async (t) => {
  const { app } = await sealedLog(t)
  const failure = (statement: string, role?: 'trm_app') => statementFailure(app, statement, role)
  const denied = { code: '42501', message: /permission denied/ }
  const appendOnly = { code: '23000', message: /append-only/ }

  const refusals: [string, 'trm_app' | undefined, object][] = [
    ["update audit_events set action = 'referral.erased' where id = 1", 'trm_app', denied],
    ["update audit_events set details = '{}' where seq is null", 'trm_app', denied],
    ['update audit_events set seq = 1 where seq is null', 'trm_app', denied],
    ['delete from audit_events where id = 1', 'trm_app', denied],
    ['truncate audit_events', 'trm_app', denied],
    ['update audit_leaves set event_id = 1', 'trm_app', denied],
    ['delete from audit_leaves', 'trm_app', denied],
    ['update audit_tiles set level = 1', 'trm_app', denied],
    ["update audit_tree_checkpoints set note = 'x'", 'trm_app', denied],
    ['delete from audit_tree_checkpoints', 'trm_app', denied],
    ['delete from audit_cosignatures', 'trm_app', denied],
    ["update audit_checkpoints set hash = 'x'", 'trm_app', denied],
    // Even the owner and the superuser, as long as the triggers are on.
    ['delete from audit_events where id = 1', undefined, appendOnly],
    ["update audit_events set actor = 'someone' where id = 1", undefined, appendOnly],
    ['update audit_events set seq = 99 where id = 1', undefined, appendOnly],
    ['truncate audit_events', undefined, appendOnly],
    ['update audit_leaves set index = 99 where index = 1', undefined, appendOnly],
    ['delete from audit_leaves where index = 1', undefined, appendOnly],
    ['truncate audit_leaves', undefined, appendOnly],
    ["update audit_tree_checkpoints set note = 'x' where size = 4", undefined, appendOnly],
    ['delete from audit_tree_checkpoints where size = 4', undefined, appendOnly],
    ['truncate audit_tiles', undefined, appendOnly],
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
    tree: new TreeReader(db),
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
    // The recipient's read issues the sender's retrieval evidence (issue 19).
    ['referral.submitted', 'referral.read', 'evidence.issued'],
  )
  const listed = await listAuditEvents(deps, { id: de.id, operator: false }, {}, 'r-4')
  t.ok(listed.items.length >= 2)
  await sealPending({ db, hubKeys: app.hubKeys, origin: app.config.auditLog.origin })
  t.match(await verifyAuditChain(db, app.hubKeys.verificationKeys), { intact: true })
  t.match(await verify(app), { intact: true, events: 7 }, 'and the owner sees the same chain')
})
