import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Statistics count the referrals of a period by their triage columns. These indexes hold the period
// key and triage columns that never change after submission, so most statistics queries become
// index-only scans of a narrow index instead of visits to the wide heap rows (about half the database
// CPU on 1,000,000 referrals once the table has been vacuumed; bench/stats.ts). The forms of
// exploitation get their own index because one index with every column is wide enough for the
// planner to prefer the heap again. Status is left out so that status changes stay HOT updates.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create index referrals_stats on referrals (submitted_at)
    include (sender_country, recipient_country, urgency, age_group, gender, minor)
  `.execute(db)
  await sql`
    create index referrals_stats_forms on referrals (submitted_at)
    include (sender_country, recipient_country, exploitation_forms)
  `.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_stats_forms').execute()
  await db.schema.dropIndex('referrals_stats').execute()
}
