import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// A delivery can end `cancelled`: it was still pending when its agency stopped taking webhooks (it
// switched to pull), so it is never sent; the message stays in the agency's inbox. `retries` counts
// the redeliveries asked for (POST /v1/deliveries/{messageId}/retry): each one schedules a new job
// carrying that number, and a job whose number is not the delivery's any more leaves it alone.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop constraint deliveries_status_check`.execute(db)
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'delivered', 'failed', 'cancelled'))`.execute(db)
  await sql`alter table deliveries add column retries integer not null default 0`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop column retries`.execute(db)
  // The old states cannot say `cancelled`; `failed` is the nearest: not delivered, and the inbox has it.
  await sql`alter table deliveries drop constraint deliveries_status_check`.execute(db)
  await sql`update deliveries set status = 'failed' where status = 'cancelled'`.execute(db)
  await sql`alter table deliveries add constraint deliveries_status_check
    check (status in ('pending', 'delivered', 'failed'))`.execute(db)
}
