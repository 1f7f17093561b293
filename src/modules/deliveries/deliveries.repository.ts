import { type Kysely, sql } from 'kysely'
import { executePrepared } from '../../db/create-db.js'
import type { Database, InboxMessageRow } from '../../db/types.js'
import { MESSAGE_COLUMNS, REFERRAL_JWS_JOIN } from '../inbox/inbox.repository.js'
import type { DeliveredMove, DeliveredReferral } from '../referrals/referrals.repository.js'
import { deliveredCtes } from '../referrals/referrals.repository.js'

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

/** A delivery with what sending it needs: its message and its agency's delivery settings. */
export async function findDeliveryTarget(db: Kysely<Database>, messageId: string) {
  const { rows } = await executePrepared(
    db,
    sql<
      InboxMessageRow & {
        delivery_status: DeliveryStatus
        agency_status: string
        delivery_mode: string
        delivery_url: string | null
      }
    >`
      select ${MESSAGE_COLUMNS}, d.status as delivery_status, a.status as agency_status, a.delivery_mode, a.delivery_url
      from deliveries d
      join inbox_messages m on m.id = d.message_id
      join agencies a on a.id = d.agency_id
      ${REFERRAL_JWS_JOIN}
      where d.message_id = ${messageId}
    `.compile(db),
  )
  return rows[0]
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

/**
 * A webhook's 2xx, in one statement: the delivery counts its last attempt and is `delivered`, the
 * message leaves the agency's unconfirmed inbox, the audit event records it, and a referral message
 * moves its referral to `delivered` (see deliveredCtes). Undefined when the delivery was delivered
 * already (or is unknown): then nothing changes.
 */
export async function recordWebhookSuccess(
  db: Kysely<Database>,
  success: { messageId: string; httpStatus: number; referralMessage: boolean },
  move: DeliveredMove,
): Promise<{ attempts: number; delivered: DeliveredReferral[] } | undefined> {
  const { rows } = await executePrepared(
    db,
    sql<{ attempts: number; delivered: DeliveredReferral[] }>`
    with attempt as (
      update deliveries
      set status = 'delivered', attempts = attempts + 1, last_attempt_at = now(), delivered_at = now()
      where message_id = ${success.messageId} and status <> 'delivered'
      returning message_id, agency_id, referral_id, attempts
    ),
    confirmed as (
      update inbox_messages set confirmed_at = now()
      where id in (select message_id from attempt) and confirmed_at is null
      returning id
    ),
    audit as (
      insert into audit_events (actor, action, target_type, target_id, referral_id, outcome, details)
      select 'system', 'webhook.delivered', 'inbox_message', message_id::text, referral_id, 'success',
        jsonb_build_object('agencyId', agency_id, 'attempts', attempts, 'httpStatus', ${success.httpStatus}::int)
      from attempt
    ),
    ${deliveredCtes(sql`select referral_id from attempt where ${success.referralMessage}::boolean`, move)}
    -- Read in this order so that rows are locked as an inbox confirmation locks them: the inbox
    -- message, then the referral (a CTE the main query reads runs when it is read).
    select attempts, (select count(*) from confirmed) as confirmed,
      coalesce((select json_agg(d) from delivered d), '[]') as delivered
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
