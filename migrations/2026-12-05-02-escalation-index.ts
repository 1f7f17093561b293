import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// inbox_messages is looked up by referral only for escalations (has this agency been escalated this
// referral?): the onward-referral gate, a national contact point's read of the referral and of its
// audit trail. The index on referral_id held every message (the referral itself, status notices,
// acknowledgements, evidence), and since referral ids come in random order each message written
// touched a random leaf of it: on a large database a page to read and, after each checkpoint, a
// full page image in the WAL. The partial index holds the escalations only, keyed as they are asked for.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index inbox_messages_referral`.execute(db)
  await sql`create index inbox_messages_escalation on inbox_messages (referral_id, agency_id)
    where type = 'escalation'`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index inbox_messages_escalation`.execute(db)
  await sql`create index inbox_messages_referral on inbox_messages (referral_id)`.execute(db)
}
