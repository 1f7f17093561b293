import type { Kysely } from 'kysely'
import type { Database, NewAuditEventRow } from '../../db/types.js'

export async function insertAuditEvent(db: Kysely<Database>, event: NewAuditEventRow): Promise<void> {
  await db.insertInto('audit_events').values(event).execute()
}
