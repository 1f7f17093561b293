import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely'
import type { Database } from '../../db/types.js'

/**
 * `at` as text, UTC, with the microseconds Postgres keeps: the exact value the chain hashes (a JS Date
 * would drop the last three digits, and a change to them would go unnoticed).
 */
const atText = sql<string>`to_char(${sql.ref('audit_events.at')} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

const EVENT_COLUMNS = [
  'audit_events.id',
  'audit_events.actor',
  'audit_events.action',
  'audit_events.target_type',
  'audit_events.target_id',
  'audit_events.referral_id',
  'audit_events.request_id',
  'audit_events.outcome',
  'audit_events.details',
] as const

const selectEvents = (db: Kysely<Database>) =>
  db.selectFrom('audit_events').select([...EVENT_COLUMNS, atText.as('at')])

/** Sealed events: the leaves, each with its event (left join: a leaf whose event is gone shows nulls). */
const selectLeaves = (db: Kysely<Database>) =>
  db
    .selectFrom('audit_leaves')
    .innerJoin('audit_events', 'audit_events.id', 'audit_leaves.event_id')
    .select([...EVENT_COLUMNS, atText.as('at'), 'audit_leaves.index', 'audit_leaves.hash as leaf_hash'])

export type AuditEventRecord = Awaited<ReturnType<ReturnType<typeof selectEvents>['executeTakeFirstOrThrow']>>
export type SealedEventRecord = Awaited<
  ReturnType<ReturnType<typeof selectLeaves>['executeTakeFirstOrThrow']>
>

/**
 * Serialises sealers of this schema for the rest of the transaction. Only sealers take it, never a
 * request, so requests insert their events without waiting on anything global.
 */
export async function lockSealing(db: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended('trm-audit-seal:' || current_schema(), 0))`.execute(
    db,
  )
}

/**
 * Committed events that are not leaves yet, in insertion order. Every event of a transaction older than
 * `horizon` (the last batch that sealed all it saw) is a leaf already, so only newer ones are looked at;
 * `afterId` (the last event the previous batch of the same run sealed) looks only at the next `limit`
 * events after it, so the batch may be shorter than `limit` though more are pending (the next run
 * takes them).
 */
export function listUnsealed(
  db: Kysely<Database>,
  horizon: string | undefined,
  limit: number,
  afterId?: number,
) {
  let query = selectEvents(db).where(({ not, exists, selectFrom }) =>
    not(
      exists(
        selectFrom('audit_leaves')
          .select('audit_leaves.index')
          .whereRef('audit_leaves.event_id', '=', 'audit_events.id'),
      ),
    ),
  )
  if (horizon !== undefined) query = query.where(sql<boolean>`audit_events.txid >= ${horizon}::xid8`)
  // Going on from a batch before: the next `limit` events by id are the candidates, read by the
  // primary key, so a batch never joins the whole tree's leaves (the planner would hash them all).
  if (afterId !== undefined)
    query = query.where('audit_events.id', 'in', (eb) =>
      eb
        .selectFrom('audit_events as next')
        .select('next.id')
        .where('next.id', '>', afterId)
        .orderBy('next.id')
        .limit(limit),
    )
  return query.orderBy('audit_events.id').limit(limit).execute()
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
        // A literal, as in escalationsQuery: the partial index inbox_messages_escalation serves it.
        .where('inbox_messages.type', '=', sql.lit('escalation')),
    ),
  ])
}

/** Sealed events in leaf order. */
export function listSealed(db: Kysely<Database>, filter: SealedFilter) {
  let query = selectLeaves(db).orderBy('audit_leaves.index')
  if (filter.limit !== undefined) query = query.limit(filter.limit)
  if (filter.afterSeq !== undefined) query = query.where('audit_leaves.index', '>=', filter.afterSeq)
  if (filter.referralId !== undefined) query = query.where('audit_events.referral_id', '=', filter.referralId)
  if (filter.action !== undefined) query = query.where('audit_events.action', '=', filter.action)
  const agencyId = filter.visibleTo
  if (agencyId !== undefined) query = query.where((eb) => visibleTo(eb, agencyId))
  return query.execute()
}

/** The event at leaf `index` if `agencyId` may see it (any event for undefined). */
export function findLeaf(db: Kysely<Database>, index: number, agencyId?: string) {
  let query = selectLeaves(db).where('audit_leaves.index', '=', index)
  if (agencyId !== undefined) query = query.where((eb) => visibleTo(eb, agencyId))
  return query.executeTakeFirst()
}

export async function countUnsealedForReferral(db: Kysely<Database>, referralId: string): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('referral_id', '=', referralId)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('audit_leaves')
            .select('audit_leaves.index')
            .whereRef('audit_leaves.event_id', '=', 'audit_events.id'),
        ),
      ),
    )
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/**
 * Every leaf from `afterIndex` on in index order, with its event when it still exists (verification:
 * a leaf whose event row is gone, or a gap in the indexes, is a deleted event).
 */
export function listLeavesForVerify(db: Kysely<Database>, fromIndex: number, limit: number) {
  return db
    .selectFrom('audit_leaves')
    .leftJoin('audit_events', 'audit_events.id', 'audit_leaves.event_id')
    .select([...EVENT_COLUMNS, atText.as('at'), 'audit_leaves.index', 'audit_leaves.hash as leaf_hash'])
    .where('audit_leaves.index', '>=', fromIndex)
    .orderBy('audit_leaves.index')
    .limit(limit)
    .execute()
}
