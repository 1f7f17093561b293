import { type Kysely, sql } from 'kysely'
import type { Database, NewOutboxRow } from '../../db/types.js'

/** Referral states in which the recipient still owes `received`: its deadline is open. */
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
 * BullMQ once more: a webhook job whose delivery (of that retry) is still pending. For after Redis
 * lost its data; a row relayed again whose job still exists is one job all the same (the job id is
 * the row id). Deadline jobs of earlier releases are not reopened: the deadline sweep, which reads
 * the referrals and not Redis, escalates their referrals all the same.
 */
export async function reopenOpenWork(db: Kysely<Database>): Promise<number> {
  const result = await sql`
    update outbox o set relayed_at = null
    where o.relayed_at is not null and o.queue = 'webhooks' and exists (
      select from deliveries d
      where d.message_id = (o.payload->>'messageId')::uuid and d.status = 'pending'
        and d.retries = coalesce((o.payload->>'retry')::int, 0))
  `.execute(db)
  return Number(result.numAffectedRows ?? 0)
}
