import { randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import t from 'tap'
import type { Database } from '../../src/db/types.js'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-05-02-escalation-index'
const MIGRATION = '2026-12-05-04-payloads-by-referral-seq'

async function insertReferral(db: Kysely<Database>, id: string, agency: string) {
  await sql`insert into referrals (id, sender_id, recipient_id, sender_country, recipient_country, status,
      urgency, stage, victim_reference, age_group, minor, gender, citizenship, exploitation_forms,
      exploitation_countries, identified_in, needs, consent_status, has_sensitive, payload_sha256,
      receipt, document_created_at, submitted_at, ack_due_at)
    values (${id}, ${agency}, ${agency}, 'RO', 'DE', 'received', 'urgent', 'first_assistance',
      ${`V-${id}`}, '21-23', false, 'female', '{RO}', '{forced_labour}', '{DE}', 'DE', '{}',
      'given', false, 'digest', 'receipt', now(), now(), now())`.execute(db)
}

t.test('referral payloads are keyed by the referral seq, each still its referral’s', async (t) => {
  const { schema, db, migrator } = await migratedUpTo(t, BEFORE, 'trm-test-migration-payloads-seq')
  const agency = randomUUID()
  await sql`insert into agencies (id, name, country, kind, delivery_mode, created_at, updated_at)
    values (${agency}, 'Fictional agency', 'RO', 'ngo', 'pull', now(), now())`.execute(db)
  // Ids in random order (as senders choose them); the last one erased (no payload left).
  const ids = Array.from({ length: 5 }, () => randomUUID())
  for (const [n, id] of ids.entries()) {
    await insertReferral(db, id, agency)
    if (n < 4) {
      await sql`insert into referral_payloads (referral_id, jws) values (${id}, ${`invented.jws-${id}.sig`})`.execute(
        db,
      )
    }
  }

  const up = await migrator.migrateTo(MIGRATION)
  if (up.error) throw up.error
  const { rows } = await sql<{ id: string; jws: string }>`select r.id, p.jws
    from referral_payloads p join referrals r on r.seq = p.referral_seq order by p.referral_seq`.execute(db)
  t.same(
    rows,
    ids.slice(0, 4).map((id) => ({ id, jws: `invented.jws-${id}.sig` })),
    'every payload reached through its referral, in referral order; none for the erased one',
  )
  const columns = await sql<{ column_name: string }>`select column_name from information_schema.columns
    where table_schema = ${schema} and table_name = 'referral_payloads' order by column_name`.execute(db)
  t.same(
    columns.rows.map((row) => row.column_name),
    ['jws', 'referral_seq'],
  )
  const key = await sql<{ indexdef: string }>`select indexdef from pg_indexes
    where schemaname = ${schema} and indexname = 'referral_payloads_pkey'`.execute(db)
  t.match(key.rows[0]?.indexdef, /UNIQUE INDEX referral_payloads_pkey .*\(referral_seq\)/)
  const jws = await sql<{ attstorage: string; attstattarget: number }>`select attstorage, attstattarget
    from pg_attribute where attrelid = ${`${schema}.referral_payloads`}::regclass and attname = 'jws'`.execute(
    db,
  )
  t.same(jws.rows, [{ attstorage: 'e', attstattarget: 0 }], 'payloads still uncompressed, without statistics')
  const grants = await sql<{
    privilege_type: string
  }>`select privilege_type from information_schema.role_table_grants
    where table_schema = ${schema} and table_name = 'referral_payloads' and grantee = 'trm_app'
    order by privilege_type`.execute(db)
  t.same(
    grants.rows.map((row) => row.privilege_type),
    ['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'the API and worker role may still use it',
  )
  // The compaction function clusters on `<table>_pkey`: it still finds it.
  await sql`insert into compaction_due (table_name, erasures, last_xid)
    values ('referral_payloads', 1, pg_current_xact_id())`.execute(db)
  const compacted = await sql<{
    outcome: string
  }>`select outcome from trm_compact_payloads('referral_payloads')`.execute(db)
  t.match(compacted.rows[0]?.outcome, /^(compacted|held)$/, 'the compaction still runs on the table')

  const down = await migrator.migrateDown()
  if (down.error) throw down.error
  const back = await sql<{
    referral_id: string
    jws: string
  }>`select referral_id, jws from referral_payloads`.execute(db)
  const byId = (a: { referral_id: string }, b: { referral_id: string }) =>
    a.referral_id < b.referral_id ? -1 : 1
  t.same(
    back.rows.sort(byId),
    ids
      .slice(0, 4)
      .map((id) => ({ referral_id: id, jws: `invented.jws-${id}.sig` }))
      .sort(byId),
    'down: keyed by the referral id again',
  )
})

// trm_compact_payloads runs as the table's owner and only an owner may rewrite a table: the new
// table must belong to whoever owned the old one, even when another role runs the migration.
t.test('the re-keyed table keeps its owner', async (t) => {
  const { schema, db, migrator } = await migratedUpTo(t, BEFORE, 'trm-test-migration-payloads-seq')
  const owner = `trm_test_owner_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  await sql`create role ${sql.id(owner)} nologin`.execute(db)
  t.teardown(async () => {
    await sql`drop role if exists ${sql.id(owner)}`.execute(db)
  })
  await sql`grant usage, create on schema ${sql.id(schema)} to ${sql.id(owner)}`.execute(db)
  await sql`alter table referral_payloads owner to ${sql.id(owner)}`.execute(db)

  const up = await migrator.migrateTo(MIGRATION)
  if (up.error) throw up.error
  const { rows } = await sql<{ tableowner: string }>`select tableowner from pg_tables
    where schemaname = ${schema} and tablename = 'referral_payloads'`.execute(db)
  t.same(rows, [{ tableowner: owner }])
  // The schema is dropped (with the table) before the role: give the schema's grants back first.
  await sql`alter table referral_payloads owner to current_user`.execute(db)
  await sql`revoke all on schema ${sql.id(schema)} from ${sql.id(owner)}`.execute(db)
})

t.test('a payload without its referral stops the migration and changes nothing', async (t) => {
  const { db, migrator } = await migratedUpTo(t, BEFORE, 'trm-test-migration-payloads-seq')
  const orphan = randomUUID()
  await sql`insert into referral_payloads (referral_id, jws) values (${orphan}, 'invented.orphan.sig')`.execute(
    db,
  )
  const up = await migrator.migrateTo(MIGRATION)
  t.match(String(up.error), /1 referral payload\(s\) have no referral: migration stopped, nothing changed/)
  const { rows } = await sql<{ referral_id: string }>`select referral_id from referral_payloads`.execute(db)
  t.same(rows, [{ referral_id: orphan }], 'still keyed by id, the row kept')
})
