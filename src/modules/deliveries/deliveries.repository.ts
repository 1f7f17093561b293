import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export function findDelivery(db: Kysely<Database>, messageId: string) {
  return db.selectFrom('deliveries').selectAll().where('message_id', '=', messageId).executeTakeFirst()
}

export function lockDelivery(db: Kysely<Database>, messageId: string) {
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('message_id', '=', messageId)
    .forUpdate()
    .executeTakeFirst()
}

/** Counts one more attempt, now, with its outcome. */
export function updateAfterAttempt(
  db: Kysely<Database>,
  messageId: string,
  outcome: { status: DeliveryStatus; lastError?: string; delivered?: boolean },
) {
  return db
    .updateTable('deliveries')
    .set({
      status: outcome.status,
      attempts: sql`attempts + 1`,
      last_attempt_at: sql`now()`,
      ...(outcome.lastError !== undefined ? { last_error: outcome.lastError } : {}),
      ...(outcome.delivered ? { delivered_at: sql`now()` } : {}),
    })
    .where('message_id', '=', messageId)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** A webhook's 2xx is delivery: the message leaves the agency's unconfirmed inbox. */
export async function confirmDeliveredMessage(db: Kysely<Database>, messageId: string): Promise<void> {
  await db
    .updateTable('inbox_messages')
    .set({ confirmed_at: sql`now()` })
    .where('id', '=', messageId)
    .where('confirmed_at', 'is', null)
    .execute()
}

/** An agency's deliveries, newest first (message ids are UUIDv7, so id order is creation order). */
export function listDeliveries(
  db: Kysely<Database>,
  filter: { agencyId: string; status?: DeliveryStatus; beforeId?: string; limit: number },
) {
  let query = db
    .selectFrom('deliveries')
    .selectAll()
    .where('agency_id', '=', filter.agencyId)
    .orderBy('message_id', 'desc')
    .limit(filter.limit)
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.beforeId) query = query.where('message_id', '<', filter.beforeId)
  return query.execute()
}
