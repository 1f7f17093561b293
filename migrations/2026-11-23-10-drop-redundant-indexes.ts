import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Two indexes every write paid for and no query needed: referrals_submitted_at has the same key as
// referrals_stats (migration 08), which serves every search by submission time, and
// deliveries_agency (agency_id, created_at) was superseded by deliveries_agency_message (migration
// 06), the order GET /v1/deliveries pages in.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_submitted_at').execute()
  await db.schema.dropIndex('deliveries_agency').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('deliveries_agency')
    .on('deliveries')
    .columns(['agency_id', 'created_at'])
    .execute()
  await db.schema.createIndex('referrals_submitted_at').on('referrals').column('submitted_at').execute()
}
