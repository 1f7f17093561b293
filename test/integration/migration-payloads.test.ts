import { randomBytes, randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import t from 'tap'
import type { Database } from '../../src/db/types.js'
import { relationFiles, whereFound } from '../helpers/disk-scan.js'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-03-01-delivery-cancelled'
const MIGRATION = '2026-12-03-02-payloads-in-own-tables'

/** Invented base64url strings standing for what a stored JWS and linkage token look like. */
const invented = (length: number) => randomBytes(length).toString('base64url')

t.test('the migration moves payloads into their tables and leaves none in the hot tables', async (t) => {
  const { schema, db, migrator } = await migratedUpTo(t, BEFORE)
  const old = db as unknown as Kysely<any>

  const agency = randomUUID()
  await sql`insert into agencies (id, name, country, kind, delivery_mode, created_at, updated_at)
    values (${agency}, 'Fictional agency', 'RO', 'ngo', 'pull', now(), now())`.execute(db)
  // Three referrals as the old code stored them: one with a linkage token and an acknowledgement
  // (whose inbox message carried a copy of its JWS), one without a token, one erased already.
  const referrals = [
    { id: randomUUID(), jws: `h.${invented(3000)}.${invented(64)}`, token: invented(32) },
    { id: randomUUID(), jws: `h.${invented(600)}.${invented(64)}`, token: null },
    { id: randomUUID(), jws: null, token: null },
  ]
  for (const [n, r] of referrals.entries()) {
    await sql`insert into referrals (id, sender_id, recipient_id, sender_country, recipient_country, status,
        urgency, stage, victim_reference, linkage_token, age_group, minor, gender, citizenship,
        exploitation_forms, exploitation_countries, identified_in, needs, consent_status, has_sensitive,
        jws, payload_sha256, receipt, document_created_at, submitted_at, ack_due_at, erased_at)
      values (${r.id}, ${agency}, ${agency}, 'RO', 'DE', 'received', 'urgent', 'first_assistance',
        ${`V-${n}`}, ${r.token}, '21-23', false, 'female', '{RO}', '{forced_labour}', '{DE}', 'DE', '{}',
        'given', true, ${r.jws}, 'digest', 'receipt', now(), now(), now(), ${r.jws ? null : new Date()})`.execute(
      db,
    )
    await old
      .insertInto('inbox_messages')
      .values({ id: randomUUID(), agency_id: agency, type: 'referral', referral_id: r.id })
      .execute()
  }
  const ack = { id: randomUUID(), jws: `h.${invented(400)}.${invented(64)}` }
  await old
    .insertInto('acknowledgements')
    .values({
      id: ack.id,
      referral_id: referrals[0]!.id,
      author_id: agency,
      type: 'received',
      from_status: 'delivered',
      to_status: 'received',
      jws: ack.jws,
      payload_sha256: 'digest',
      receipt: 'receipt',
      submitted_at: new Date(),
    })
    .execute()
  await old
    .insertInto('inbox_messages')
    .values({
      id: randomUUID(),
      agency_id: agency,
      type: 'acknowledgement',
      referral_id: referrals[0]!.id,
      acknowledgement_id: ack.id,
      jws: ack.jws,
    })
    .execute()

  const up = await migrator.migrateTo(MIGRATION)
  if (up.error) throw up.error
  const latest = db as Kysely<Database>
  t.same(
    (await latest.selectFrom('referral_payloads').selectAll().orderBy('jws').execute()).map((p) => p.jws),
    referrals.flatMap((r) => (r.jws ? [r.jws] : [])).sort(),
    'every JWS moved, byte for byte',
  )
  t.same(await latest.selectFrom('linkage_tokens').selectAll().execute(), [
    { referral_id: referrals[0]!.id, token: referrals[0]!.token },
  ])
  t.same(await latest.selectFrom('acknowledgement_payloads').selectAll().execute(), [
    { referral_id: referrals[0]!.id, acknowledgement_id: ack.id, jws: ack.jws },
  ])
  const { rows: columns } = await sql<{ column: string }>`
    select table_name || '.' || column_name as column from information_schema.columns
    where table_schema = ${schema} and column_name in ('jws', 'linkage_token')
    order by 1`.execute(db)
  t.same(
    columns.map((c) => c.column),
    ['acknowledgement_payloads.jws', 'audit_checkpoints.jws', 'referral_payloads.jws'],
    'no hot table has a payload column left',
  )

  await sql`checkpoint`.execute(db)
  const files = await relationFiles(latest, schema)
  const secrets = [
    ...referrals.flatMap((r) => (r.jws ? [r.jws.slice(2, 42), r.jws.slice(-40)] : [])),
    referrals[0]!.token!,
    ack.jws.slice(2, 42),
    ack.jws.slice(-40),
  ]
  const holders = new Set(secrets.flatMap((secret) => whereFound(files, [secret])))
  t.same(
    [...holders].filter((name) => !/^(referral_payloads|acknowledgement_payloads|linkage_tokens)/.test(name)),
    [],
    'the rewrite left no byte of them in referrals, acknowledgements or inbox_messages',
  )
  t.ok(
    holders.has('referral_payloads (TOAST)') && holders.has('linkage_tokens_token'),
    'they are where they belong',
  )

  const down = await migrator.migrateDown()
  if (down.error) throw down.error
  const back = await old.selectFrom('referrals').select(['id', 'jws', 'linkage_token']).execute()
  t.same(
    Object.fromEntries(back.map((r) => [r.id, [r.jws, r.linkage_token]])),
    Object.fromEntries(referrals.map((r) => [r.id, [r.jws, r.token]])),
    'down puts them back',
  )
  t.same(
    (
      await old.selectFrom('inbox_messages').select('jws').where('type', '=', 'acknowledgement').execute()
    ).map((m) => m.jws),
    [ack.jws],
  )
})
