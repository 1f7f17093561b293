import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import { AWAITING_RECEIPT } from '../ledger/outbox.repository.js'

// The states as literals, not parameters: a generic plan of a prepared statement could not prove the
// partial index's predicate from `status in ($1, $2)`, and would scan the table.
const awaitingReceipt = sql<boolean>`status in (${sql.join(AWAITING_RECEIPT.map((status) => sql.lit(status)))})`

/** A referral still awaiting `received`, never escalated, due at or before `now`. */
function overdue(db: Kysely<Database>, now: Date) {
  return db
    .selectFrom('referrals')
    .where('escalated_at', 'is', null)
    .where('received_at', 'is', null)
    .where(awaitingReceipt)
    .where('ack_due_at', '<=', now)
}

/**
 * Up to `limit` overdue referrals, the longest overdue first, from the partial index
 * referrals_awaiting_receipt_due (migration 2026-12-04-14). Reads only: each is locked and marked
 * on its own by {@link markEscalated}.
 */
export async function listOverdue(db: Kysely<Database>, now: Date, limit: number): Promise<string[]> {
  const rows = await overdue(db, now).select('id').orderBy('ack_due_at').limit(limit).execute()
  return rows.map((row) => row.id)
}

/**
 * Marks a referral escalated when it is still awaiting `received` past its due time and was never
 * escalated; returns the row when this call did it, undefined otherwise (so it happens once). The
 * row is locked `for update skip locked`: a referral another transaction is escalating right now is
 * skipped rather than waited for, and once that one commits, escalated_at keeps it from matching.
 */
export function markEscalated(db: Kysely<Database>, referralId: string, now: Date) {
  return db
    .updateTable('referrals')
    .set({ escalated_at: now, updated_at: sql`now()` })
    .where('id', '=', overdue(db, now).select('id').where('id', '=', referralId).forUpdate().skipLocked())
    .returningAll()
    .executeTakeFirst()
}
