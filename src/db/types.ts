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
  /** The writing transaction (xid8 as text); set by the database. */
  txid: Generated<string>
}

/** An event's place in the Merkle tree, given once by the sealer: index = seq − 1. Append-only. */
export interface AuditLeavesTable {
  index: number
  event_id: number
  /** SHA-256(0x00 ‖ JCS(event)). */
  hash: Uint8Array
}

/** A complete 256-wide C2SP tile: 256 hashes of tree level 8·level, concatenated. Append-only. */
export interface AuditTilesTable {
  level: number
  index: number
  hashes: Uint8Array
  /** The MTH of the 256 hashes: the entry of the tile one level up. */
  root: Uint8Array
}

/** A C2SP checkpoint signed as a note by the hub, one per sealed batch. Append-only. */
export interface AuditTreeCheckpointsTable {
  size: number
  root: Uint8Array
  note: string
  at: Timestamp
  /** pg_snapshot_xmin when the batch had sealed everything visible (xid8 as text), else null. */
  horizon: string | null
}

/** A witness cosignature line over the checkpoint of that size. Append-only. */
export interface AuditCosignaturesTable {
  size: number
  witness: string
  line: string
  time: number
  received_at: Generated<Date>
}

/** A hub-signed statement { seq, hash, at } written after each sealed batch; append-only. */
export interface AuditCheckpointsTable {
  seq: number
  hash: string
  at: Timestamp
  jws: string
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

export interface ReferralsTable {
  id: string
  seq: Generated<number>
  sender_id: string
  recipient_id: string
  sender_country: string
  recipient_country: string
  status: string
  urgency: string
  stage: string
  victim_reference: string
  age_group: string
  minor: boolean
  gender: string
  citizenship: string[]
  exploitation_forms: string[]
  exploitation_countries: string[]
  identified_in: string
  needs: string[]
  consent_status: string
  /** The document's `consent.scope` and `handling` (migrations/2026-12-04-18), empty when absent. */
  consent_scope: Generated<string[]>
  handling: Generated<string[]>
  /** The parent referral this one hands on (onward referral), null for a chain's first. */
  onward_of: Generated<string | null>
  has_sensitive: boolean
  payload_sha256: string
  receipt: string
  document_created_at: Timestamp
  submitted_at: Timestamp
  ack_due_at: Timestamp
  received_at: Date | null
  escalated_at: Date | null
  terminal_at: Date | null
  erased_at: Date | null
  updated_at: Timestamp
  /** Consent scopes withdrawn for the referral's chain (migrations/2026-12-04-20). */
  consent_withdrawn: Generated<string[]>
}

export interface AcknowledgementsTable {
  id: string
  seq: Generated<number>
  referral_id: string
  author_id: string
  type: string
  reason: string | null
  outcome: string | null
  from_status: string
  to_status: string
  payload_sha256: string
  receipt: string
  submitted_at: Timestamp
  erased_at: Date | null
}

export interface InboxMessagesTable {
  agency_id: string
  seq: Generated<number>
  /** xid8 of the writing transaction, as digits (pg returns it as text). */
  txid: Generated<string>
  id: string
  type: string
  referral_id: string
  acknowledgement_id: string | null
  body: ColumnType<Record<string, unknown> | null, string | null, string | null>
  created_at: Timestamp
  confirmed_at: Date | null
}

/**
 * What erasure removes lives apart from the skeleton, in tables that can be rewritten on their own
 * (migrations/2026-12-03-02): a referral's JWS (with its `sensitive` JWE), an acknowledgement's JWS,
 * a referral's linkage token. Erasure deletes the rows; the skeleton keeps `erased_at`.
 */
export interface ReferralPayloadsTable {
  /** The referral's seq: payloads are written in referral order. */
  referral_seq: number
  jws: string
}

export interface AcknowledgementPayloadsTable {
  referral_id: string
  acknowledgement_id: string
  jws: string
}

export interface LinkageTokensTable {
  referral_id: string
  token: string
}

/** A payload table holding erased rows that a rewrite has not removed from its files yet. */
export interface CompactionDueTable {
  table_name: 'referral_payloads' | 'acknowledgement_payloads' | 'linkage_tokens'
  erasures: number
  since: Timestamp
  /** xid8 of the newest erasing transaction, as digits. */
  last_xid: string
}

/** A signed `consent_withdrawn` (its acknowledgement id), on the first referral of its chain. */
export interface ConsentWithdrawalsTable {
  id: string
  referral_id: string
  withdrawn_by: string
  scope: string
  withdrawn_at: Timestamp
  due_at: Timestamp
}

/** A holder asked to erase by a withdrawal: confirmed with `erasure_confirmed`, or escalated once. */
export interface ConsentErasuresTable {
  withdrawal_id: string
  agency_id: string
  referral_id: string
  due_at: Timestamp
  confirmed_at: Date | null
  confirmation_id: string | null
  escalated_at: Date | null
  escalated_to: string | null
}

export interface DeliveriesTable {
  message_id: string
  agency_id: string
  referral_id: string
  status: Generated<'pending' | 'delivered' | 'failed' | 'cancelled'>
  attempts: Generated<number>
  retries: Generated<number>
  last_error: string | null
  last_attempt_at: Date | null
  delivered_at: Date | null
  created_at: Timestamp
}

/** Hub-signed evidence of a referral's delivery or retrieval (or of their absence); append-only. */
export interface EvidenceTable {
  referral_id: string
  event: 'delivery' | 'retrieval' | 'non_delivery' | 'non_retrieval'
  recipient_id: string
  sender_id: string
  at: Timestamp
  jws: string
  message_id: string
}

export interface Database {
  deliveries: DeliveriesTable
  referrals: ReferralsTable
  acknowledgements: AcknowledgementsTable
  referral_payloads: ReferralPayloadsTable
  acknowledgement_payloads: AcknowledgementPayloadsTable
  linkage_tokens: LinkageTokensTable
  compaction_due: CompactionDueTable
  consent_withdrawals: ConsentWithdrawalsTable
  consent_erasures: ConsentErasuresTable
  inbox_messages: InboxMessagesTable
  agencies: AgenciesTable
  agency_keys: AgencyKeysTable
  audit_events: AuditEventsTable
  audit_checkpoints: AuditCheckpointsTable
  audit_leaves: AuditLeavesTable
  audit_tiles: AuditTilesTable
  audit_tree_checkpoints: AuditTreeCheckpointsTable
  audit_cosignatures: AuditCosignaturesTable
  outbox: OutboxTable
  evidence: EvidenceTable
}

export type AgencyRow = Selectable<AgenciesTable>
export type NewAgencyRow = Insertable<AgenciesTable>
export type AgencyUpdate = Updateable<AgenciesTable>
export type AgencyKeyRow = Selectable<AgencyKeysTable>
export type AuditEventRow = Selectable<AuditEventsTable>
export type NewAuditEventRow = Insertable<AuditEventsTable>
export type AuditCheckpointRow = Selectable<AuditCheckpointsTable>
export type NewAuditCheckpointRow = Insertable<AuditCheckpointsTable>
export type AuditTreeCheckpointRow = Selectable<AuditTreeCheckpointsTable>
export type NewOutboxRow = Insertable<OutboxTable>
export type ReferralRow = Selectable<ReferralsTable>
export type NewReferralRow = Insertable<ReferralsTable>
export type AcknowledgementRow = Selectable<AcknowledgementsTable>
/** A message as read: its `jws` is its referral's or acknowledgement's, joined (inbox.repository). */
export type InboxMessageRow = Selectable<InboxMessagesTable> & { jws: string | null }
export type NewInboxMessageRow = Insertable<InboxMessagesTable>
export type DeliveryRow = Selectable<DeliveriesTable>
export type EvidenceRow = Selectable<EvidenceTable>
