import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import { AWAITING_RECEIPT } from '../ledger/outbox.repository.js'

/**
 * Marks a referral escalated when it is still awaiting `received` past its due time and was never
 * escalated; returns the row when this call did it, undefined otherwise (so it happens once).
 */
export function markEscalated(db: Kysely<Database>, referralId: string, now: Date) {
  return db
    .updateTable('referrals')
    .set({ escalated_at: now, updated_at: sql`now()` })
    .where('id', '=', referralId)
    .where('escalated_at', 'is', null)
    .where('received_at', 'is', null)
    .where('status', 'in', [...AWAITING_RECEIPT])
    .where('ack_due_at', '<=', now)
    .returningAll()
    .executeTakeFirst()
}
