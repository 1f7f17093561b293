import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-03-10-stats-releases'
const MIGRATION = '2026-12-04-18-onward-referrals'

/** A JWS-shaped string over an invented payload: only its payload part is read by the migration. */
const jwsOf = (payload: Record<string, unknown>) =>
  `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`

t.test('the onward migration backfills consent scope and handling from stored documents', async (t) => {
  const { db, migrator } = await migratedUpTo(t, BEFORE, 'trm-test-migration-onward')

  const agency = randomUUID()
  await sql`insert into agencies (id, name, country, kind, delivery_mode, created_at, updated_at)
    values (${agency}, 'Fictional agency', 'RO', 'ngo', 'pull', now(), now())`.execute(db)
  // Payload lengths chosen so that base64url needs no, one and two padding characters.
  const referrals = [
    {
      id: randomUUID(),
      document: { consent: { scope: ['assistance', 'onward_sharing'] }, handling: ['no_onward_sharing'] },
    },
    { id: randomUUID(), document: { consent: { scope: ['law_enforcement'] }, x: 'a' } },
    { id: randomUUID(), document: { consent: { scope: [] }, x: 'ab' } },
    { id: randomUUID(), document: null },
  ]
  for (const [n, r] of referrals.entries()) {
    await sql`insert into referrals (id, sender_id, recipient_id, sender_country, recipient_country, status,
        urgency, stage, victim_reference, age_group, minor, gender, citizenship, exploitation_forms,
        exploitation_countries, identified_in, needs, consent_status, has_sensitive, payload_sha256,
        receipt, document_created_at, submitted_at, ack_due_at)
      values (${r.id}, ${agency}, ${agency}, 'RO', 'DE', 'received', 'urgent', 'first_assistance',
        ${`V-${n}`}, '21-23', false, 'female', '{RO}', '{forced_labour}', '{DE}', 'DE', '{}',
        'given', false, 'digest', 'receipt', now(), now(), now())`.execute(db)
    if (r.document) {
      await sql`insert into referral_payloads (referral_id, jws) values (${r.id}, ${jwsOf(r.document)})`.execute(
        db,
      )
    }
  }

  const up = await migrator.migrateTo(MIGRATION)
  if (up.error) throw up.error
  const { rows } = await sql<{
    id: string
    consent_scope: string[]
    handling: string[]
    onward_of: string | null
  }>`
    select id, consent_scope, handling, onward_of from referrals`.execute(db)
  const byId = new Map(rows.map((row) => [row.id, row]))
  t.same(byId.get(referrals[0]!.id), {
    id: referrals[0]!.id,
    consent_scope: ['assistance', 'onward_sharing'],
    handling: ['no_onward_sharing'],
    onward_of: null,
  })
  t.same(byId.get(referrals[1]!.id)?.consent_scope, ['law_enforcement'])
  t.same(byId.get(referrals[1]!.id)?.handling, [], 'no handling member: empty')
  t.same(byId.get(referrals[2]!.id)?.consent_scope, [])
  t.same(byId.get(referrals[3]!.id)?.consent_scope, [], 'erased: nothing to read, so it cannot be forwarded')
})
