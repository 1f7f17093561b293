import type { Kysely } from 'kysely'
import type { Database, NewAuditEventRow } from '../../db/types.js'
import { insertAuditEvent } from './audit.repository.js'

export interface AuditEvent {
  actor: string
  action: string
  target: { type: string; id: string }
  referralId?: string | undefined
  requestId?: string | undefined
  outcome: 'success' | 'refused' | 'failed'
  /** Small and free of victim data: ids, codes, counts. */
  details?: Record<string, string | number | boolean | null>
}

/** The row an audit event is stored as (for statements that write it alongside other rows). */
export function auditEventRow(event: AuditEvent): NewAuditEventRow {
  return {
    actor: event.actor,
    action: event.action,
    target_type: event.target.type,
    target_id: event.target.id,
    referral_id: event.referralId ?? null,
    request_id: event.requestId ?? null,
    outcome: event.outcome,
    details: JSON.stringify(event.details ?? {}),
  }
}

/**
 * Records an audit event inside the caller's transaction, as a plain insert: the sealer later gives
 * it its place in the hash chain, so no request waits on a global lock.
 */
export async function recordAuditEvent(db: Kysely<Database>, event: AuditEvent): Promise<void> {
  await insertAuditEvent(db, auditEventRow(event))
}
