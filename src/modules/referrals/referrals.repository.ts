import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import { insertAuditRows } from '../ledger/audit.repository.js'
import { pushDeliveryCtes } from '../ledger/inbox.repository.js'
import { MAX_LINKED_REFERRALS, MAX_ONWARD_LINKS } from './referrals.schemas.js'

/** How referrals move to `delivered`: which states allow it, and what is recorded. */
export interface DeliveredMove {
  from: readonly string[]
  via: 'inbox' | 'webhook'
  requestId: string | null
  auditDetails: string
  statusBody: string
}

/**
 * Common table expressions moving the referrals `source` selects (one `referral_id` column) to
 * `delivered`, those still in a `from` state (a referral moved already, or by a concurrent
 * statement, is left alone), and for each one moved: the audit event, a `status` message in its
 * sender's inbox and, for a push sender, the delivery row and its webhook job. `delivered` lists
 * what moved: (id, sender_id, push).
 */
export function deliveredCtes(source: RawBuilder<unknown>, move: DeliveredMove) {
  return sql`
    moved as (
      update referrals r set status = 'delivered', updated_at = now()
      where r.id in (${source}) and r.status = any (${move.from as string[]}::text[])
      returning r.id, r.sender_id, r.recipient_id
    ),
    moved_audit as (
      ${insertAuditRows(sql`
        select ${move.via === 'inbox' ? sql`recipient_id::text` : sql`'system'`} as actor,
          'referral.delivered' as action, 'referral' as target_type, id::text as target_id,
          id as referral_id, ${move.requestId}::text as request_id, 'success' as outcome,
          ${move.auditDetails}::jsonb as details
        from moved`)}
    ),
    moved_message as (
      insert into inbox_messages (id, agency_id, type, referral_id, body)
      select trm_uuid_v7(), sender_id, 'status', id, ${move.statusBody}::jsonb from moved
      returning id as message_id, agency_id, referral_id
    ),
    ${pushDeliveryCtes('moved', 'moved_message')},
    delivered as (
      select m.id, m.sender_id, exists (
        select from moved_message mm join moved_delivery d on d.message_id = mm.message_id
        where mm.referral_id = m.id
      ) as push
      from moved m
    )`
}

export interface DeliveredReferral {
  id: string
  sender_id: string
  push: boolean
}

export function findReferral(db: Kysely<Database>, id: string) {
  return db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirst()
}

export function lockReferral(db: Kysely<Database>, id: string) {
  return db.selectFrom('referrals').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

/**
 * Other referrals carrying the referral's linkage token that the agency is party to (sender or
 * recipient). Those of other parties are not counted: a count of them would tell anyone holding the
 * network key whether the hub knows a person (see README, Linkage tokens).
 */
export async function findLinked(db: Kysely<Database>, referralId: string, agencyId: string) {
  const rows = await db
    .selectFrom('linkage_tokens as own')
    .innerJoin('linkage_tokens as other', (join) =>
      join.onRef('other.token', '=', 'own.token').onRef('other.referral_id', '!=', 'own.referral_id'),
    )
    .innerJoin('referrals', 'referrals.id', 'other.referral_id')
    .select('referrals.id')
    .where('own.referral_id', '=', referralId)
    .where((eb) =>
      eb.or([eb('referrals.sender_id', '=', agencyId), eb('referrals.recipient_id', '=', agencyId)]),
    )
    .orderBy('referrals.seq')
    .limit(MAX_LINKED_REFERRALS)
    .execute()
  return { count: rows.length, visibleIds: rows.map((r) => r.id) }
}

/** The referral's JWS as received; undefined once erased. */
export async function findReferralJws(db: Kysely<Database>, referralId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('referral_payloads')
    .innerJoin('referrals', 'referrals.seq', 'referral_payloads.referral_seq')
    .select('referral_payloads.jws')
    .where('referrals.id', '=', referralId)
    .executeTakeFirst()
  return row?.jws
}

export function listForParty(
  db: Kysely<Database>,
  filter: { agencyId: string; role?: 'sent' | 'received'; status?: string; afterSeq?: number; limit: number },
) {
  let query = db.selectFrom('referrals').selectAll().orderBy('seq').limit(filter.limit)
  if (filter.role === 'sent') query = query.where('sender_id', '=', filter.agencyId)
  else if (filter.role === 'received') query = query.where('recipient_id', '=', filter.agencyId)
  else {
    query = query.where((eb) =>
      eb.or([eb('sender_id', '=', filter.agencyId), eb('recipient_id', '=', filter.agencyId)]),
    )
  }
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq)
  return query.execute()
}

/** A referral's acknowledgements, each with its JWS (null once erased). */
export function listAcknowledgements(db: Kysely<Database>, referralId: string) {
  return db
    .selectFrom('acknowledgements')
    .leftJoin('acknowledgement_payloads as payload', (join) =>
      join
        .onRef('payload.referral_id', '=', 'acknowledgements.referral_id')
        .onRef('payload.acknowledgement_id', '=', 'acknowledgements.id'),
    )
    .selectAll('acknowledgements')
    .select('payload.jws')
    .where('acknowledgements.referral_id', '=', referralId)
    .orderBy('acknowledgements.seq')
    .execute()
}

/**
 * The agency's escalation messages for the referral. `type` is written into the statement, not
 * passed as a parameter, so that even a plan made for any parameters can use the partial index
 * `inbox_messages_escalation` (messages are indexed by referral for escalations only).
 */
export function escalationsQuery(db: Kysely<Database>, referralId: string, agencyId: string) {
  return db
    .selectFrom('inbox_messages')
    .select('id')
    .where('referral_id', '=', referralId)
    .where('agency_id', '=', agencyId)
    .where('type', '=', sql.lit('escalation'))
}

/** True when the agency received an escalation for the referral (a national contact point's view). */
export async function hasEscalation(db: Kysely<Database>, referralId: string, agencyId: string) {
  const row = await escalationsQuery(db, referralId, agencyId).limit(1).executeTakeFirst()
  return row !== undefined
}

export async function updateReferral(
  db: Kysely<Database>,
  id: string,
  changes: {
    status?: string
    received_at?: Date
    terminal_at?: Date
    escalated_at?: Date
    erased_at?: Date
  },
) {
  return db
    .updateTable('referrals')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** How deep a chain is followed. */
const MAX_ONWARD_DEPTH = 20

/**
 * The onward referrals below a referral (those handing it on, those handing them on, and so on), in
 * the order they were submitted: what the chain's parties may know of each link, never its document.
 */
export async function listOnward(db: Kysely<Database>, referralId: string) {
  const { rows } = await sql<{
    id: string
    onward_of: string
    recipient_id: string
    recipient_country: string
    recipient_kind: string
    submitted_at: Date
    status: string
  }>`
    with recursive chain as (
      select id, onward_of, recipient_id, recipient_country, submitted_at, status, seq, 1 as depth
      from referrals where onward_of = ${referralId}
      union all
      select r.id, r.onward_of, r.recipient_id, r.recipient_country, r.submitted_at, r.status, r.seq,
        chain.depth + 1
      from referrals r join chain on r.onward_of = chain.id
      where chain.depth < ${MAX_ONWARD_DEPTH}
    )
    select chain.id, chain.onward_of, chain.recipient_id, chain.recipient_country,
      a.kind as recipient_kind, chain.submitted_at, chain.status
    from chain join agencies a on a.id = chain.recipient_id
    order by chain.seq limit ${MAX_ONWARD_LINKS}`.execute(db)
  return rows
}
