import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely'
import type { Database, NewAuditCheckpointRow } from '../../db/types.js'

/**
 * `at` as text, UTC, with the microseconds Postgres keeps: the exact value the chain hashes (a JS Date
 * would drop the last three digits, and a change to them would go unnoticed).
 */
const atText = sql<string>`to_char(${sql.ref('audit_events.at')} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

const EVENT_COLUMNS = [
  'audit_events.id',
  'audit_events.seq',
  'audit_events.actor',
  'audit_events.action',
  'audit_events.target_type',
  'audit_events.target_id',
  'audit_events.referral_id',
  'audit_events.request_id',
  'audit_events.outcome',
  'audit_events.details',
  'audit_events.prev_hash',
  'audit_events.hash',
] as const

const selectEvents = (db: Kysely<Database>) =>
  db.selectFrom('audit_events').select([...EVENT_COLUMNS, atText.as('at')])

export type AuditEventRecord = Awaited<ReturnType<ReturnType<typeof selectEvents>['executeTakeFirstOrThrow']>>
export type SealedEventRecord = AuditEventRecord & { seq: number; prev_hash: string; hash: string }

/**
 * Serialises sealers of this schema for the rest of the transaction. Only sealers take it, never a
 * request, so requests insert their events without waiting on anything global.
 */
export async function lockSealing(db: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended('trm-audit-seal:' || current_schema(), 0))`.execute(
    db,
  )
}

export function findChainHead(db: Kysely<Database>) {
  return db
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .where('seq', 'is not', null)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst() as Promise<{ seq: number; hash: string } | undefined>
}

/** Committed, unsealed events in insertion order. */
export function listUnsealed(db: Kysely<Database>, limit: number) {
  return selectEvents(db).where('seq', 'is', null).orderBy('id').limit(limit).execute()
}

/**
 * Fills in seq and the links of unsealed events and records the signed checkpoint, in one
 * statement: the sealer's transaction writes (and so holds back the inbox horizon) only for that
 * statement. Returns how many events it sealed.
 */
export async function writeSeals(
  db: Kysely<Database>,
  seals: readonly { id: number; seq: number; prevHash: string; hash: string }[],
  checkpoint: NewAuditCheckpointRow,
): Promise<number> {
  if (seals.length === 0) return 0
  const values = sql.join(
    seals.map((s) => sql`(${s.id}::bigint, ${s.seq}::bigint, ${s.prevHash}::text, ${s.hash}::text)`),
  )
  const { rows } = await sql<{ sealed: string }>`
    with sealed as (
      update audit_events as e
      set seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
      from (values ${values}) as v (id, seq, prev_hash, hash)
      where e.id = v.id and e.seq is null
      returning e.id
    ),
    checkpoint as (
      insert into audit_checkpoints (seq, hash, at, jws)
      values (${checkpoint.seq}, ${checkpoint.hash}, ${checkpoint.at}, ${checkpoint.jws})
    )
    select count(*) as sealed from sealed
  `.execute(db)
  return Number(rows[0]!.sealed)
}

export interface SealedFilter {
  afterSeq?: number
  referralId?: string
  action?: string
  /** Events an agency may see: it caused them, or they are about a referral it is party to. */
  visibleTo?: string
  /** Without one, every match (a single referral's trail). */
  limit?: number
}

function visibleTo(eb: ExpressionBuilder<Database, 'audit_events'>, agencyId: string): Expression<SqlBool> {
  // The same parties as partyRole in referrals.read.ts: sender, recipient, or an escalated-to NCP.
  return eb.or([
    eb('audit_events.actor', '=', agencyId),
    eb.exists(
      eb
        .selectFrom('referrals')
        .select('referrals.id')
        .whereRef('referrals.id', '=', 'audit_events.referral_id')
        .where((r) =>
          r.or([r('referrals.sender_id', '=', agencyId), r('referrals.recipient_id', '=', agencyId)]),
        ),
    ),
    eb.exists(
      eb
        .selectFrom('inbox_messages')
        .select('inbox_messages.id')
        .whereRef('inbox_messages.referral_id', '=', 'audit_events.referral_id')
        .where('inbox_messages.agency_id', '=', agencyId)
        .where('inbox_messages.type', '=', 'escalation'),
    ),
  ])
}

/** Sealed events in seq order. */
export function listSealed(db: Kysely<Database>, filter: SealedFilter) {
  let query = selectEvents(db).where('seq', 'is not', null).orderBy('seq')
  if (filter.limit !== undefined) query = query.limit(filter.limit)
  if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq)
  if (filter.referralId !== undefined) query = query.where('referral_id', '=', filter.referralId)
  if (filter.action !== undefined) query = query.where('action', '=', filter.action)
  const agencyId = filter.visibleTo
  if (agencyId !== undefined) query = query.where((eb) => visibleTo(eb, agencyId))
  return query.execute() as Promise<SealedEventRecord[]>
}

export function findSealedAt(db: Kysely<Database>, seq: number) {
  return selectEvents(db).where('seq', '=', seq).executeTakeFirst() as Promise<SealedEventRecord | undefined>
}

export async function countUnsealedForReferral(db: Kysely<Database>, referralId: string): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('referral_id', '=', referralId)
    .where('seq', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

export function findLatestCheckpoint(db: Kysely<Database>) {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst()
}

/** The first checkpoint at or after seq: the signed statement that covers that event. */
export function findCheckpointCovering(db: Kysely<Database>, seq: number) {
  return db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('seq', '>=', seq)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst()
}

/** Checkpoints with fromSeq <= seq <= throughSeq (no upper bound when throughSeq is undefined). */
export function listCheckpoints(db: Kysely<Database>, fromSeq: number, throughSeq?: number) {
  let query = db.selectFrom('audit_checkpoints').selectAll().where('seq', '>=', fromSeq).orderBy('seq')
  if (throughSeq !== undefined) query = query.where('seq', '<=', throughSeq)
  return query.execute()
}
