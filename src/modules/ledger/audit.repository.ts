import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { Database, NewAuditEventRow } from '../../db/types.js'

/** A plain insert: nothing global is touched (no lock, no NOTIFY) until the sealer's own transaction. */
export async function insertAuditEvent(db: Kysely<Database>, event: NewAuditEventRow): Promise<void> {
  await db.insertInto('audit_events').values(event).execute()
}

/**
 * The INSERT of the audit events `rows` selects, for a statement that records its own events with
 * the change they record (one round trip). `rows` names its columns `actor, action, target_type,
 * target_id, referral_id, request_id, outcome, details` (jsonb); the rest of an event is the sealer's.
 */
export function insertAuditRows(rows: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`insert into audit_events (actor, action, target_type, target_id, referral_id, request_id, outcome, details)
    select audit_row.actor, audit_row.action, audit_row.target_type, audit_row.target_id,
      audit_row.referral_id, audit_row.request_id, audit_row.outcome, audit_row.details
    from (${rows}) as audit_row`
}
