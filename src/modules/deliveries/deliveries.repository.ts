import { type Kysely, sql } from 'kysely'
import { executePrepared } from '../../db/create-db.js'
import type { Database, DeliveryRow, InboxMessageRow } from '../../db/types.js'
import {
  type EvidenceTarget,
  evidenceCtes,
  ISSUED_EVIDENCE,
  type IssuedEvidence,
  type NewEvidence,
} from '../evidence/evidence.repository.js'
import { insertAuditRows } from '../ledger/audit.repository.js'
import type { DeliveryActor } from '../ledger/deliveries.repository.js'
import { MESSAGE_COLUMNS, MESSAGE_JWS_JOIN } from '../ledger/inbox.repository.js'
import { WEBHOOK_JOB } from '../ledger/outbox.service.js'
import type { DeliveredMove, DeliveredReferral } from '../referrals/referrals.repository.js'
import { deliveredCtes } from '../referrals/referrals.repository.js'
import type { DeliveryStatus } from './deliveries.core.js'

export type { DeliveryStatus }

/**
 * A delivery with what sending it needs: its message and its agency's delivery settings; for a
 * referral's own message, what the sender's `delivery` evidence is made of (signed before the 2xx is
 * recorded, see recordWebhookSuccess).
 */
export async function findDeliveryTarget(db: Kysely<Database>, messageId: string) {
  const { rows } = await executePrepared(
    db,
    sql<
      InboxMessageRow & {
        delivery_status: DeliveryStatus
        delivery_retries: number
        agency_status: string
        delivery_mode: string
        delivery_url: string | null
        evidence_target: EvidenceTarget | null
      }
    >`
      select ${MESSAGE_COLUMNS}, d.status as delivery_status, d.retries as delivery_retries, a.status as agency_status, a.delivery_mode, a.delivery_url,
        case when r.id is not null then json_build_object('id', r.id, 'sender_id', r.sender_id,
          'recipient_id', r.recipient_id, 'payload_sha256', r.payload_sha256) end as evidence_target
      from deliveries d
      join inbox_messages m on m.id = d.message_id
      join agencies a on a.id = d.agency_id
      ${MESSAGE_JWS_JOIN}
      left join referrals r on m.type = 'referral' and r.id = m.referral_id
      where d.message_id = ${messageId}
    `.compile(db),
  )
  return rows[0]
}

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

/**
 * True when the message is a referral's own message still unconfirmed in the recipient's inbox; the
 * row is share-locked, so that a confirmation waits for the caller's transaction.
 */
export async function lockUnconfirmedReferralMessage(db: Kysely<Database>, messageId: string) {
  const row = await db
    .selectFrom('inbox_messages')
    .select('id')
    .where('id', '=', messageId)
    .where('type', '=', 'referral')
    .where('confirmed_at', 'is', null)
    .forShare()
    .executeTakeFirst()
  return row !== undefined
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

/**
 * A webhook's 2xx, in one statement: the delivery counts its last attempt and is `delivered`, the
 * message leaves the agency's unconfirmed inbox, the audit event records it, a referral message
 * moves its referral to `delivered` (see deliveredCtes), and the `evidence` signed for it is stored
 * (see evidenceCtes). Undefined when the delivery was delivered already (or is unknown): then nothing
 * changes.
 */
export async function recordWebhookSuccess(
  db: Kysely<Database>,
  success: {
    messageId: string
    httpStatus: number
    referralMessage: boolean
    evidence: readonly NewEvidence[]
  },
  move: DeliveredMove,
): Promise<{ attempts: number; delivered: DeliveredReferral[]; evidence: IssuedEvidence[] } | undefined> {
  const { rows } = await executePrepared(
    db,
    sql<{ attempts: number; delivered: DeliveredReferral[]; evidence: IssuedEvidence[] }>`
    with attempt as (
      update deliveries
      set status = 'delivered', attempts = attempts + 1, last_attempt_at = now(), delivered_at = now()
      where message_id = ${success.messageId} and status <> 'delivered'
      returning message_id, agency_id, referral_id, attempts
    ),
    confirmed as (
      update inbox_messages set confirmed_at = now()
      where id = (select message_id from attempt) and confirmed_at is null
      returning id
    ),
    audit as (
      ${insertAuditRows(sql`
        select 'system' as actor, 'webhook.delivered' as action, 'inbox_message' as target_type,
          message_id::text as target_id, referral_id, null::text as request_id, 'success' as outcome,
          jsonb_build_object('agencyId', agency_id, 'attempts', attempts, 'httpStatus', ${success.httpStatus}::int)
            as details
        from attempt`)}
    ),
    ${deliveredCtes(sql`select referral_id from attempt where ${success.referralMessage}::boolean`, move)},
    ${evidenceCtes(success.evidence, null, sql`exists (select from attempt)`)}
    -- Read in this order so that rows are locked as an inbox confirmation locks them: the inbox
    -- message, then the referral, then the evidence (a CTE the main query reads runs when it is read).
    select attempts, (select count(*) from confirmed) as confirmed,
      coalesce((select json_agg(d) from delivered d), '[]') as delivered,
      ${ISSUED_EVIDENCE} as evidence
    from attempt
  `.compile(db),
  )
  return rows[0]
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

/**
 * Puts failed deliveries of one agency back to `pending` in one statement: each counts one more
 * retry, gets a new webhook job in the outbox (a new row, so a new BullMQ job id: the first job is
 * kept as failed) carrying that retry's number, and one `webhook.retry_requested` audit event. One
 * delivery with `messageId`; else the next `limit` after `afterId`, in message id order. Rows are
 * locked as an attempt locks them, and one another process retried meanwhile is left alone.
 */
export async function requeueFailed(
  db: Kysely<Database>,
  filter: { agencyId: string; messageId?: string; afterId?: string; limit: number },
  by: DeliveryActor & { bulk: boolean },
): Promise<DeliveryRow[]> {
  const { rows } = await sql<DeliveryRow>`
    with retried as (
      update deliveries set status = 'pending', retries = retries + 1
      where message_id in (
        select message_id from deliveries
        where agency_id = ${filter.agencyId} and status = 'failed'
          ${filter.messageId !== undefined ? sql`and message_id = ${filter.messageId}` : sql``}
          ${filter.afterId !== undefined ? sql`and message_id > ${filter.afterId}` : sql``}
        order by message_id
        limit ${filter.limit}
        for update
      ) and status = 'failed'
      returning *
    ),
    scheduled as (
      insert into outbox (id, queue, job_name, payload)
      select trm_uuid_v7(), ${WEBHOOK_JOB.queue}, ${WEBHOOK_JOB.name},
        jsonb_build_object('messageId', message_id, 'retry', retries)
      from retried
    ),
    audit as (
      ${insertAuditRows(sql`
        select ${by.actor}::text as actor, 'webhook.retry_requested' as action, 'inbox_message' as target_type,
          message_id::text as target_id, referral_id, ${by.requestId}::text as request_id, 'success' as outcome,
          jsonb_build_object('agencyId', agency_id, 'attempts', attempts, 'retries', retries,
            'bulk', ${by.bulk}::boolean) as details
        from retried`)}
    )
    select * from retried order by message_id
  `.execute(db)
  return rows
}
