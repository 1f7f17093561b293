import { type Kysely, sql } from 'kysely'
import { executePrepared } from '../../db/create-db.js'
import type { Database, InboxMessageRow } from '../../db/types.js'
import {
  type EvidenceTarget,
  evidenceCtes,
  ISSUED_EVIDENCE,
  type IssuedEvidence,
  type NewEvidence,
} from '../evidence/evidence.repository.js'
import { insertAuditRows } from '../ledger/audit.repository.js'
import { INBOX_COLUMNS, MESSAGE_COLUMNS, MESSAGE_JWS_JOIN } from '../ledger/inbox.repository.js'
import {
  type DeliveredMove,
  type DeliveredReferral,
  deliveredCtes,
} from '../referrals/referrals.repository.js'

export interface InboxPosition {
  txid: string
  seq: number
}

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
        ${insertAuditRows(sql`
          select ${agencyId}::text as actor, 'inbox.read' as action, 'inbox' as target_type,
            ${agencyId}::text as target_id, null::uuid as referral_id, ${audit.requestId}::text as request_id,
            'success' as outcome,
            jsonb_build_object('count', count(*), 'lastMessageId', (array_agg(id order by txid desc, seq desc))[1])
              as details
          from found where readable
          having count(*) > 0`)}
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
 * What an inbox confirmation up to `through` is the cause of, read before it so that its `delivery`
 * evidence can be signed before the statement that stores it (a statement must not wait on signing):
 * the referrals whose own message it would confirm and that have no `delivery` evidence yet, and
 * this read's snapshot. A confirmation kept to the messages visible in that snapshot (see
 * confirmThrough) confirms no referral message this read did not see.
 */
export async function findConfirmationEvidence(
  db: Kysely<Database>,
  agencyId: string,
  through: InboxPosition,
): Promise<{ snapshot: string; targets: EvidenceTarget[] }> {
  const { rows } = await executePrepared(
    db,
    sql<{ snapshot: string; targets: EvidenceTarget[] }>`
      select pg_current_snapshot()::text as snapshot, coalesce((
        select json_agg(json_build_object('id', r.id, 'sender_id', r.sender_id, 'recipient_id', r.recipient_id,
          'payload_sha256', r.payload_sha256) order by r.id)
        from inbox_messages m join referrals r on r.id = m.referral_id
        where m.agency_id = ${agencyId} and (m.txid, m.seq) <= (${through.txid}::xid8, ${through.seq})
          and m.confirmed_at is null and m.type = 'referral'
          and not exists (
            select from evidence e
            where e.referral_id = r.id and e.recipient_id = r.recipient_id and e.event = 'delivery'
          )
      ), '[]') as targets
    `.compile(db),
  )
  return rows[0]!
}

/**
 * Confirms every unconfirmed message up to a position that is visible in `snapshot` (committed
 * before findConfirmationEvidence's read: a cursor the hub handed out, from a read or a webhook, names
 * such a message), in one statement with what follows from it: the referrals among them move to
 * `delivered` (see deliveredCtes), the confirmation is audited, and `evidence`, signed from that
 * read, is stored for the referrals whose own message it confirmed (once: the evidence table's key).
 * A message committed after that read, below the position or not, is left for a later confirmation.
 */
export async function confirmThrough(
  db: Kysely<Database>,
  confirm: {
    agencyId: string
    through: InboxPosition
    snapshot: string
    cursor: string
    requestId: string
    evidence: readonly NewEvidence[]
  },
  move: DeliveredMove,
): Promise<{ confirmed: number; delivered: DeliveredReferral[]; evidence: IssuedEvidence[] }> {
  const { agencyId, through, snapshot, cursor, requestId, evidence } = confirm
  const { rows } = await executePrepared(
    db,
    sql<{ confirmed: string; delivered: DeliveredReferral[]; evidence: IssuedEvidence[] }>`
      with confirmed as (
        update inbox_messages set confirmed_at = now()
        where agency_id = ${agencyId} and (txid, seq) <= (${through.txid}::xid8, ${through.seq})
          and pg_visible_in_snapshot(txid, ${snapshot}::pg_snapshot) and confirmed_at is null
        returning id, type, referral_id
      ),
      ${deliveredCtes(sql`select referral_id from confirmed where type = 'referral'`, move)},
      confirm_audit as (
        ${insertAuditRows(sql`
          select ${agencyId}::text as actor, 'inbox.confirmed' as action, 'inbox' as target_type,
            ${agencyId}::text as target_id, null::uuid as referral_id, ${requestId}::text as request_id,
            'success' as outcome, jsonb_build_object('count', count(*), 'through', ${cursor}::text) as details
          from confirmed having count(*) > 0`)}
      ),
      ${evidenceCtes(evidence, requestId, sql`referral_id in (select referral_id from confirmed where type = 'referral')`)}
      -- Read in this order so that rows are locked as a webhook's 2xx locks them: the inbox
      -- messages, then the referrals, then the evidence.
      select (select count(*) from confirmed) as confirmed,
        coalesce((select json_agg(d) from delivered d), '[]') as delivered,
        ${ISSUED_EVIDENCE} as evidence
    `.compile(db),
  )
  const row = rows[0]!
  return { confirmed: Number(row.confirmed), delivered: row.delivered, evidence: row.evidence }
}
