import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import { insertAuditRows } from './audit.repository.js'

/** Who asked for a change to deliveries, for its audit events: an agency (with its request) or the hub. */
export interface DeliveryActor {
  actor: string
  requestId: string | null
}

/**
 * Ends as `cancelled` the pending deliveries (of an agency, or one) whose agency takes no webhooks
 * any more (pull, or no URL), with a `webhook.cancelled` audit event each, in one statement. The
 * agency is read in the statement, so a delivery is never cancelled for an agency that is push. A
 * POST already in flight that then answers 2xx still records it `delivered`: the receiver has it.
 */
export async function cancelUndeliverable(
  db: Kysely<Database>,
  target: { agencyId: string } | { messageId: string },
  by: DeliveryActor,
): Promise<number> {
  const { rows } = await sql<{ cancelled: string }>`
    with cancelled as (
      update deliveries d set status = 'cancelled'
      from agencies a
      where a.id = d.agency_id and d.status = 'pending'
        and (a.delivery_mode <> 'push' or a.delivery_url is null)
        and ${'agencyId' in target ? sql`d.agency_id = ${target.agencyId}` : sql`d.message_id = ${target.messageId}`}
      returning d.message_id, d.agency_id, d.referral_id, d.attempts, a.delivery_mode
    ),
    audit as (
      ${insertAuditRows(sql`
        select ${by.actor}::text as actor, 'webhook.cancelled' as action, 'inbox_message' as target_type,
          message_id::text as target_id, referral_id, ${by.requestId}::text as request_id, 'success' as outcome,
          jsonb_build_object('agencyId', agency_id, 'attempts', attempts, 'deliveryMode', delivery_mode) as details
        from cancelled`)}
    )
    select count(*) as cancelled from cancelled
  `.execute(db)
  return Number(rows[0]?.cancelled ?? 0)
}
