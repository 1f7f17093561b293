import { type Kysely, sql } from 'kysely'
import { executePrepared } from '../../db/create-db.js'
import type { Database, InboxMessageRow, NewInboxMessageRow } from '../../db/types.js'
import {
  type DeliveredMove,
  type DeliveredReferral,
  deliveredCtes,
} from '../referrals/referrals.repository.js'

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
 * Appends a message to an agency's inbox. Its order is (txid, seq): readers see it once every older
 * transaction has finished (see migrations/2026-11-22-07), so no lock is held for the recipient.
 */
export async function appendInboxMessage(db: Kysely<Database>, message: NewInboxMessage): Promise<void> {
  await db.insertInto('inbox_messages').values(inboxMessageRow(message)).execute()
}

export function inboxMessageRow(message: NewInboxMessage): NewInboxMessageRow {
  return {
    agency_id: message.agencyId,
    id: message.id,
    type: message.type,
    referral_id: message.referralId,
    acknowledgement_id: message.acknowledgementId ?? null,
    jws: message.jws ?? null,
    body: message.body ? JSON.stringify(message.body) : null,
  }
}

export async function insertDelivery(
  db: Kysely<Database>,
  row: { message_id: string; agency_id: string; referral_id: string },
): Promise<void> {
  await db.insertInto('deliveries').values(row).execute()
}

export interface InboxPosition {
  txid: string
  seq: number
}

/**
 * Messages below the horizon of running transactions, in (txid, seq) order: a final, stable order.
 * `waiting` says whether messages after them have committed but are not readable yet (a transaction
 * older than theirs is still running); one snapshot answers both.
 */
export async function listMessages(
  db: Kysely<Database>,
  filter: { agencyId: string; after?: InboxPosition; limit: number },
): Promise<{ rows: InboxMessageRow[]; waiting: boolean }> {
  let query = db
    .selectFrom('inbox_messages')
    .selectAll()
    .select(sql<boolean>`txid < pg_snapshot_xmin(pg_current_snapshot())`.as('readable'))
    .where('agency_id', '=', filter.agencyId)
    .orderBy('txid')
    .orderBy('seq')
    .limit(filter.limit)
  // Without a cursor: from the oldest unconfirmed message on.
  query = filter.after
    ? query.where(sql<boolean>`(txid, seq) > (${filter.after.txid}::xid8, ${filter.after.seq})`)
    : query.where('confirmed_at', 'is', null)
  const found = await query.execute()
  // Readable messages come first in this order: their transaction ids are the lowest.
  const readable = found.findIndex((row) => !row.readable)
  const rows = (readable === -1 ? found : found.slice(0, readable)).map(({ readable: _, ...row }) => row)
  return { rows, waiting: readable !== -1 }
}

export function findMessage(db: Kysely<Database>, id: string) {
  return db.selectFrom('inbox_messages').selectAll().where('id', '=', id).executeTakeFirst()
}

/**
 * Confirms every unconfirmed message up to a position, in one statement with what follows from it:
 * the referrals among them move to `delivered` (see deliveredCtes) and the confirmation is audited.
 */
export async function confirmThrough(
  db: Kysely<Database>,
  confirm: { agencyId: string; through: InboxPosition; cursor: string; requestId: string },
  move: DeliveredMove,
): Promise<{ confirmed: number; delivered: DeliveredReferral[] }> {
  const { agencyId, through, cursor, requestId } = confirm
  const { rows } = await executePrepared(
    db,
    sql<{ confirmed: string; delivered: DeliveredReferral[] }>`
      with confirmed as (
        update inbox_messages set confirmed_at = now()
        where agency_id = ${agencyId} and (txid, seq) <= (${through.txid}::xid8, ${through.seq})
          and confirmed_at is null
        returning id, type, referral_id
      ),
      ${deliveredCtes(sql`select referral_id from confirmed where type = 'referral'`, move)},
      confirm_audit as (
        insert into audit_events (actor, action, target_type, target_id, request_id, outcome, details)
        select ${agencyId}, 'inbox.confirmed', 'inbox', ${agencyId}, ${requestId}, 'success',
          jsonb_build_object('count', count(*), 'through', ${cursor}::text)
        from confirmed having count(*) > 0
      )
      select (select count(*) from confirmed) as confirmed,
        coalesce((select json_agg(d) from delivered d), '[]') as delivered
    `.compile(db),
  )
  return { confirmed: Number(rows[0]!.confirmed), delivered: rows[0]!.delivered }
}
