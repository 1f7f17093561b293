import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/**
 * Removes every copy of a referral's signed payloads the hub holds: the referral's JWS (with its
 * `sensitive` JWE inside), the acknowledgements' JWS and the inbox messages that carried them.
 * Keeps the skeleton (ids, parties, triage columns, states, times, digests, receipts).
 */
export async function purgePayloads(db: Kysely<Database>, referralId: string, at: Date): Promise<void> {
  await db
    .updateTable('referrals')
    .set({ jws: null, linkage_token: null, erased_at: at, updated_at: sql`now()` })
    .where('id', '=', referralId)
    .execute()
  await db
    .updateTable('acknowledgements')
    .set({ jws: null, erased_at: at })
    .where('referral_id', '=', referralId)
    .execute()
  await db
    .updateTable('inbox_messages')
    .set({ jws: null, body: null })
    .where('referral_id', '=', referralId)
    .where((eb) => eb.or([eb('jws', 'is not', null), eb('body', 'is not', null)]))
    .execute()
}

/** Terminal referrals past the retention period that still hold a payload, oldest first. */
export function listExpired(db: Kysely<Database>, terminalBefore: Date, limit: number) {
  return db
    .selectFrom('referrals')
    .select(['id', 'status', 'terminal_at'])
    .where('terminal_at', '<', terminalBefore)
    .where('erased_at', 'is', null)
    .where('status', 'in', ['closed', 'declined', 'withdrawn'])
    .orderBy('terminal_at')
    .orderBy('id')
    .limit(limit)
    .execute()
}
