import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/**
 * Counts stop here: a gauge at this value means "at least this many". Each count walks a partial
 * index (unconfirmed inbox messages, unrelayed outbox rows, unsealed audit events) or one agency's
 * deliveries by status, so a scrape reads at most this many index entries per count, however large
 * a backlog grows.
 */
export const STATE_COUNT_CAP = 10_000

/** No statement of a scrape runs longer than this; a slower one fails the read, not the scrape. */
const STATEMENT_TIMEOUT_MS = 1_000

export interface InboxDepthRow {
  kind: string
  unconfirmed: number
  oldest_age_seconds: number | null
}

export interface DeliveryBacklogRow {
  kind: string
  pending: number
  failed: number
  oldest_pending_age_seconds: number | null
}

export interface OutboxBacklogRow {
  queue: string
  backlog: number
  oldest_age_seconds: number
}

export interface AuditBacklogRow {
  unsealed: number
  oldest_age_seconds: number | null
}

export interface OverdueDeadlinesRow {
  overdue: number
  oldest_age_seconds: number | null
}

export interface HubStateRows {
  inbox: InboxDepthRow[]
  deliveries: DeliveryBacklogRow[]
  outbox: OutboxBacklogRow[]
  audit: AuditBacklogRow
  deadlines: OverdueDeadlinesRow
}

/**
 * What the hub has still to do, read for a metrics scrape in one read-only transaction: unconfirmed
 * inbox messages and webhook deliveries of active agencies by agency kind, unrelayed outbox rows by
 * queue, unsealed audit events, referrals past their acknowledgement deadline not yet escalated;
 * each with the age of its oldest. Ages are seconds to the transaction's `now()`.
 */
export function readHubState(db: Kysely<Database>): Promise<HubStateRows> {
  return db
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      await sql`select set_config('statement_timeout', ${String(STATEMENT_TIMEOUT_MS)}, true)`.execute(trx)
      const inbox = await sql<InboxDepthRow>`
        select a.kind, sum(depth.n)::int as unconfirmed,
               extract(epoch from now() - min(head.created_at))::float8 as oldest_age_seconds
        from agencies a
        cross join lateral (
          select count(*)::int as n from (
            select from inbox_messages m
            where m.agency_id = a.id and m.confirmed_at is null
            limit ${STATE_COUNT_CAP}
          ) capped
        ) depth
        left join lateral (
          select m.created_at from inbox_messages m
          where m.agency_id = a.id and m.confirmed_at is null
          order by m.txid, m.seq
          limit 1
        ) head on true
        where a.status = 'active'
        group by a.kind
      `.execute(trx)
      const deliveries = await sql<DeliveryBacklogRow>`
        select a.kind, sum(pending.n)::int as pending, sum(failed.n)::int as failed,
               extract(epoch from now() - min(head.created_at))::float8 as oldest_pending_age_seconds
        from agencies a
        cross join lateral (
          select count(*)::int as n from (
            select from deliveries d
            where d.agency_id = a.id and d.status = 'pending'
            limit ${STATE_COUNT_CAP}
          ) capped
        ) pending
        cross join lateral (
          select count(*)::int as n from (
            select from deliveries d
            where d.agency_id = a.id and d.status = 'failed'
            limit ${STATE_COUNT_CAP}
          ) capped
        ) failed
        left join lateral (
          select d.created_at from deliveries d
          where d.agency_id = a.id and d.status = 'pending'
          order by d.message_id
          limit 1
        ) head on true
        where a.status = 'active'
        group by a.kind
      `.execute(trx)
      const outbox = await sql<OutboxBacklogRow>`
        select queue, count(*)::int as backlog,
               extract(epoch from now() - min(created_at))::float8 as oldest_age_seconds
        from (
          select queue, created_at from outbox
          where relayed_at is null
          order by created_at
          limit ${STATE_COUNT_CAP}
        ) unrelayed
        group by queue
      `.execute(trx)
      const audit = await sql<AuditBacklogRow>`
        select count(*)::int as unsealed,
               extract(epoch from now() - min(at))::float8 as oldest_age_seconds
        from (
          select e.at from audit_events e
          where e.txid >= coalesce((select horizon from audit_tree_checkpoints
              where horizon is not null order by size desc limit 1), '0'::xid8)
            and not exists (select from audit_leaves l where l.event_id = e.id)
          order by e.id
          limit ${STATE_COUNT_CAP}
        ) unsealed
      `.execute(trx)
      // Walks the partial index of referrals awaiting receipt (referrals_awaiting_receipt_due).
      const deadlines = await sql<OverdueDeadlinesRow>`
        select count(*)::int as overdue,
               extract(epoch from now() - min(ack_due_at))::float8 as oldest_age_seconds
        from (
          select ack_due_at from referrals
          where escalated_at is null and received_at is null and status in ('submitted', 'delivered')
            and ack_due_at <= now()
          order by ack_due_at
          limit ${STATE_COUNT_CAP}
        ) overdue
      `.execute(trx)
      return {
        inbox: inbox.rows,
        deliveries: deliveries.rows,
        outbox: outbox.rows,
        audit: audit.rows[0] ?? { unsealed: 0, oldest_age_seconds: null },
        deadlines: deadlines.rows[0] ?? { overdue: 0, oldest_age_seconds: null },
      }
    })
}
