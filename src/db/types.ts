import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

// Table types, one interface per table (Kysely). Columns mirror migrations/.
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>

export interface AgenciesTable {
  id: string
  name: string
  country: string
  kind: string
  national_contact_point: Generated<boolean>
  status: Generated<'active' | 'suspended'>
  delivery_mode: 'pull' | 'push'
  delivery_url: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface AgencyKeysTable {
  agency_id: string
  kid: string
  use: 'sig' | 'enc'
  alg: string
  jwk: ColumnType<Record<string, unknown>, string, string>
  status: Generated<'active' | 'revoked'>
  created_at: Timestamp
  revoked_at: Date | null
}

export interface AuditEventsTable {
  id: Generated<number>
  seq: number | null
  at: Timestamp
  actor: string
  action: string
  target_type: string
  target_id: string
  referral_id: string | null
  request_id: string | null
  outcome: string
  details: ColumnType<Record<string, unknown>, string | undefined, string>
  prev_hash: string | null
  hash: string | null
}

export interface OutboxTable {
  id: string
  queue: string
  job_name: string
  payload: ColumnType<Record<string, unknown>, string, string>
  run_at: Date | null
  created_at: Timestamp
  relayed_at: Date | null
}

export interface Database {
  agencies: AgenciesTable
  agency_keys: AgencyKeysTable
  audit_events: AuditEventsTable
  outbox: OutboxTable
}

export type AgencyRow = Selectable<AgenciesTable>
export type NewAgencyRow = Insertable<AgenciesTable>
export type AgencyUpdate = Updateable<AgenciesTable>
export type AgencyKeyRow = Selectable<AgencyKeysTable>
export type AuditEventRow = Selectable<AuditEventsTable>
export type NewAuditEventRow = Insertable<AuditEventsTable>
export type NewOutboxRow = Insertable<OutboxTable>
