import { type Kysely, sql } from 'kysely'
import type { Database, NewOutboxRow } from '../../db/types.js'

/** Referral states in which the recipient still owes `received`: its deadline job is open work. */
export const AWAITING_RECEIPT = ['submitted', 'delivered'] as const

export async function insertOutbox(db: Kysely<Database>, row: NewOutboxRow): Promise<void> {
  await db.insertInto('outbox').values(row).execute()
}

/** A batch of unrelayed rows, oldest first. Reads only: the relay is single-active by its own lock. */
export function listPending(db: Kysely<Database>, limit: number) {
  return db
    .selectFrom('outbox')
    .selectAll()
    .where('relayed_at', 'is', null)
    .orderBy('created_at')
    .limit(limit)
    .execute()
}

export async function markRelayed(db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await db.updateTable('outbox').set({ relayed_at: sql`now()` }).where('id', 'in', ids).execute()
}

export async function countPending(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('relayed_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/**
 * Marks relayed rows whose work is still open as unrelayed again, so the relay adds their jobs to
 * BullMQ once more: a webhook job whose delivery (of that retry) is still pending, a deadline job
 * whose referral still awaits `received` and was not escalated. For after Redis lost its data; a
 * row relayed again whose job still exists is one job all the same (the job id is the row id).
 */
export async function reopenOpenWork(db: Kysely<Database>): Promise<number> {
  const result = await sql`
    update outbox o set relayed_at = null
    where o.relayed_at is not null and (
      (o.queue = 'webhooks' and exists (
        select from deliveries d
        where d.message_id = (o.payload->>'messageId')::uuid and d.status = 'pending'
          and d.retries = coalesce((o.payload->>'retry')::int, 0)))
      or (o.queue = 'deadlines' and exists (
        select from referrals r
        where r.id = (o.payload->>'referralId')::uuid and r.escalated_at is null and r.received_at is null
          and r.status in (${sql.join([...AWAITING_RECEIPT])})))
    )
  `.execute(db)
  return Number(result.numAffectedRows ?? 0)
}
