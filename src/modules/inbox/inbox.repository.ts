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

const COLUMNS = [
  'agency_id',
  'seq',
  'txid',
  'id',
  'type',
  'referral_id',
  'acknowledgement_id',
  'jws',
  'body',
  'created_at',
  'confirmed_at',
] as const

/** Named, not `*`: a prepared statement's result must not change when a migration adds a column. */
const INBOX_COLUMNS = sql.join(COLUMNS.map((column) => sql.ref(column)))

/**
 * An inbox message's columns from `inbox_messages m` left-joined by {@link MESSAGE_JWS_JOIN}. A
 * message stores no copy of a signed document (it would double what a submission writes, and leave
 * a copy in a hot table that erasure cannot rewrite): a referral message's `jws` is its referral's,
 * an acknowledgement message's its acknowledgement's, so erasing them erases it here too.
 */
export const MESSAGE_COLUMNS = sql.join(
  COLUMNS.map((column) =>
    column === 'jws'
      ? sql`coalesce(message_referral.jws, message_acknowledgement.jws) as jws`
      : sql.ref(`m.${column}`),
  ),
)

/** Joins the payload whose JWS a message shows (see {@link MESSAGE_COLUMNS}). */
export const MESSAGE_JWS_JOIN = sql`left join referral_payloads message_referral
    on m.type = 'referral' and message_referral.referral_id = m.referral_id
  left join acknowledgement_payloads message_acknowledgement
    on m.type = 'acknowledgement' and message_acknowledgement.referral_id = m.referral_id
      and message_acknowledgement.acknowledgement_id = m.acknowledgement_id`

/**
 * Messages below the horizon of running transactions, in (txid, seq) order: a final, stable order.
 * `waiting` says whether messages after them have committed but are not readable yet (a transaction
 * older than theirs is still running); one snapshot answers both. With `audit`, the same statement
 * records the read when it returns messages (no second round trip before the answer).
 */
export async function listMessages(
  db: Kysely<Database>,
  filter: { agencyId: string; after?: InboxPosition; limit: number },
  audit?: { requestId: string },
): Promise<{ rows: InboxMessageRow[]; waiting: boolean }> {
  const { agencyId, after, limit } = filter
  // Without a cursor: from the oldest unconfirmed message on.
  const from = after
    ? sql`(m.txid, m.seq) > (${after.txid}::xid8, ${after.seq})`
    : sql`m.confirmed_at is null`
  const { rows: found } = await executePrepared(
    db,
    sql<InboxMessageRow & { readable: boolean }>`
      with found as (
        select ${MESSAGE_COLUMNS}, m.txid < pg_snapshot_xmin(pg_current_snapshot()) as readable
        from inbox_messages m ${MESSAGE_JWS_JOIN}
        where m.agency_id = ${agencyId} and ${from}
        order by m.txid, m.seq
        limit ${limit}
      )${
        audit
          ? sql`,
      read_audit as (
        insert into audit_events (actor, action, target_type, target_id, request_id, outcome, details)
        select ${agencyId}, 'inbox.read', 'inbox', ${agencyId}, ${audit.requestId}, 'success',
          jsonb_build_object('count', count(*), 'lastMessageId', (array_agg(id order by txid desc, seq desc))[1])
        from found where readable
        having count(*) > 0
      )`
          : sql``
      }
      select ${INBOX_COLUMNS}, readable from found order by txid, seq
    `.compile(db),
  )
  // Readable messages come first in this order: their transaction ids are the lowest.
  const readable = found.findIndex((row) => !row.readable)
  const rows = (readable === -1 ? found : found.slice(0, readable)).map(({ readable: _, ...row }) => row)
  return { rows, waiting: readable !== -1 }
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
