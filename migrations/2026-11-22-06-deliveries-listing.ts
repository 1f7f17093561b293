import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/.
export async function up(db: Kysely<any>): Promise<void> {
  // GET /v1/deliveries pages an agency's deliveries newest first by message id (UUIDv7), optionally by status.
  await db.schema
    .createIndex('deliveries_agency_message')
    .on('deliveries')
    .columns(['agency_id', 'message_id'])
    .execute()
  await db.schema
    .createIndex('deliveries_agency_status_message')
    .on('deliveries')
    .columns(['agency_id', 'status', 'message_id'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_agency_status_message').execute()
  await db.schema.dropIndex('deliveries_agency_message').execute()
}
