import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Deadlines are raised by a sweep over the referrals (src/jobs/deadline-sweep.ts), no longer by one
// outbox row and BullMQ delayed job per referral. The sweep reads this partial index: referrals still
// awaiting `received` (states submitted and delivered) and never escalated, by due time. It holds only
// open referrals, so it stays small however many are stored.
//
// Unrelayed deadline outbox rows are deleted: the sweep covers every referral they stand for (the due
// time is on the referral). Rows already relayed stay: their jobs are in BullMQ, and the deadlines
// queue keeps draining them for one release (escalating twice is impossible: escalated_at is set once).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index referrals_awaiting_receipt_due on referrals (ack_due_at)
    where escalated_at is null and received_at is null and status in ('submitted', 'delivered')`.execute(db)
  await sql`delete from outbox where queue = 'deadlines' and relayed_at is null`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_awaiting_receipt_due').execute()
}
