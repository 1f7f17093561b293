import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

export interface NewInboxMessage {
  id: string
  agencyId: string
  type: 'referral' | 'acknowledgement' | 'status' | 'escalation' | 'erasure'
  referralId: string
  acknowledgementId?: string
  jws?: string
  body?: Record<string, unknown>
}

/**
 * Appends a message to an agency's inbox. The seq comes from the agency's inbox head, whose row lock
 * is held to commit: per agency, seq order is commit order. Call it late in the transaction.
 */
export async function appendInboxMessage(db: Kysely<Database>, message: NewInboxMessage): Promise<number> {
  const head = await db
    .insertInto('inbox_heads')
    .values({ agency_id: message.agencyId, last_seq: 1 })
    .onConflict((oc) => oc.column('agency_id').doUpdateSet({ last_seq: sql`inbox_heads.last_seq + 1` }))
    .returning('last_seq')
    .executeTakeFirstOrThrow()
  await db
    .insertInto('inbox_messages')
    .values({
      agency_id: message.agencyId,
      seq: head.last_seq,
      id: message.id,
      type: message.type,
      referral_id: message.referralId,
      acknowledgement_id: message.acknowledgementId ?? null,
      jws: message.jws ?? null,
      body: message.body ? JSON.stringify(message.body) : null,
    })
    .execute()
  return head.last_seq
}

export async function notifyInbox(db: Kysely<Database>, channel: string, agencyId: string): Promise<void> {
  await sql`select pg_notify(${channel}, ${agencyId})`.execute(db)
}

export async function insertDelivery(
  db: Kysely<Database>,
  row: { message_id: string; agency_id: string; referral_id: string },
): Promise<void> {
  await db.insertInto('deliveries').values(row).execute()
}

export function listMessages(
  db: Kysely<Database>,
  filter: { agencyId: string; afterSeq?: number; limit: number },
) {
  let query = db
    .selectFrom('inbox_messages')
    .selectAll()
    .where('agency_id', '=', filter.agencyId)
    .orderBy('seq')
    .limit(filter.limit)
  // Without a cursor: from the oldest unconfirmed message on.
  query =
    filter.afterSeq === undefined
      ? query.where('confirmed_at', 'is', null)
      : query.where('seq', '>', filter.afterSeq)
  return query.execute()
}

export function findMessage(db: Kysely<Database>, id: string) {
  return db.selectFrom('inbox_messages').selectAll().where('id', '=', id).executeTakeFirst()
}

/** Confirms every unconfirmed message up to seq; returns what was confirmed. */
export function confirmThrough(db: Kysely<Database>, agencyId: string, seq: number) {
  return db
    .updateTable('inbox_messages')
    .set({ confirmed_at: sql`now()` })
    .where('agency_id', '=', agencyId)
    .where('seq', '<=', seq)
    .where('confirmed_at', 'is', null)
    .returning(['id', 'type', 'referral_id'])
    .execute()
}
