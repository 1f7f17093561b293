import { type Kysely, sql } from 'kysely'
import { executePrepared } from '../../db/create-db.js'
import type { Database, EvidenceRow } from '../../db/types.js'
import type { EvidenceEvent } from '../../lib/evidence.js'
import { insertAuditRows } from '../ledger/audit.repository.js'
import { pushDeliveryCtes } from '../ledger/inbox.repository.js'

/** What a piece of evidence about a referral is made of. */
export interface EvidenceTarget {
  id: string
  sender_id: string
  recipient_id: string
  payload_sha256: string
}

/**
 * The referrals among `referralIds` that have no `event` evidence for their recipient yet (and, for
 * a negative event, no evidence of its positive one: a referral delivered or retrieved is never
 * said not to be). Read before signing, so that a repeated cause signs nothing; the insert decides.
 */
export async function findEvidenceTargets(
  db: Kysely<Database>,
  event: EvidenceEvent,
  referralIds: readonly string[],
): Promise<EvidenceTarget[]> {
  const excluded = [event, ...(event.startsWith('non_') ? [event.slice('non_'.length)] : [])]
  // Prepared (see executePrepared): it runs in the transaction of every delivery and confirmation.
  const query = sql<EvidenceTarget>`
    select r.id, r.sender_id, r.recipient_id, r.payload_sha256 from referrals r
    where r.id = any (${referralIds as string[]}::uuid[])
      and not exists (
        select from evidence e
        where e.referral_id = r.id and e.recipient_id = r.recipient_id and e.event = any (${excluded}::text[])
      )
    order by r.id
  `.compile(db)
  const { rows } = await executePrepared(db, query)
  return rows
}

export interface NewEvidence {
  referral_id: string
  event: EvidenceEvent
  recipient_id: string
  sender_id: string
  at: string
  jws: string
  message_id: string
}

/**
 * The CTEs that store evidence with what follows from it, for each row that is new (the primary key
 * (referral, event, recipient) makes "once" structural: a second one is dropped; a negative event's
 * rows leave out referrals with evidence of the positive one, see findEvidenceTargets): an `evidence`
 * message in the sender's inbox carrying the JWS (with its webhook delivery and job for a push
 * sender) and an `evidence.issued` audit event. `issued` lists what was stored, `evidence_delivery`
 * the messages pushed. Rows are stored only when `gate` holds (for a statement that records the
 * cause too). The rows are one parameter, so the statement's text is the same for any number of them.
 */
export function evidenceCtes(rows: readonly NewEvidence[], requestId: string | null, gate = sql`true`) {
  return sql`
    evidence_input as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(referral_id uuid, event text,
        recipient_id uuid, sender_id uuid, at timestamptz, jws text, message_id uuid)
      where ${gate}
    ),
    issued as (
      insert into evidence (referral_id, event, recipient_id, sender_id, at, jws, message_id)
      select referral_id, event, recipient_id, sender_id, at, jws, message_id from evidence_input
      on conflict do nothing
      returning referral_id, event, recipient_id, sender_id, jws, message_id
    ),
    evidence_message as (
      insert into inbox_messages (id, agency_id, type, referral_id, body)
      select message_id, sender_id, 'evidence', referral_id,
        jsonb_build_object('event', event, 'evidence', jws)
      from issued
      returning id as message_id, agency_id, referral_id
    ),
    ${pushDeliveryCtes('evidence', 'evidence_message')},
    evidence_audit as (
      ${insertAuditRows(sql`
        select 'system' as actor, 'evidence.issued' as action, 'referral' as target_type,
          referral_id::text as target_id, referral_id, ${requestId}::text as request_id, 'success' as outcome,
          jsonb_build_object('event', event, 'recipient', recipient_id, 'messageId', message_id) as details
        from issued`)}
    )`
}

/** What evidence was stored, for its wake-ups: its sender, and whether the message is pushed. */
export interface IssuedEvidence {
  referral_id: string
  sender_id: string
  push: boolean
}

/** The main query's expression listing `issued` (see evidenceCtes) as IssuedEvidence rows. */
export const ISSUED_EVIDENCE = sql`coalesce((
    select json_agg(json_build_object('referral_id', i.referral_id, 'sender_id', i.sender_id,
      'push', exists (select from evidence_delivery d where d.message_id = i.message_id)))
    from issued i
  ), '[]')`

/** Stores evidence in one statement with what follows from it (see evidenceCtes). */
export async function insertEvidence(
  db: Kysely<Database>,
  rows: readonly NewEvidence[],
  requestId: string | null,
): Promise<IssuedEvidence[]> {
  const query = sql<{ issued: IssuedEvidence[] }>`
    with ${evidenceCtes(rows, requestId)}
    select ${ISSUED_EVIDENCE} as issued
  `.compile(db)
  const { rows: result } = await executePrepared(db, query)
  return result[0]!.issued
}

/** The parties of a referral, or undefined when there is none. */
export function findParties(db: Kysely<Database>, referralId: string) {
  return db
    .selectFrom('referrals')
    .select(['sender_id', 'recipient_id'])
    .where('id', '=', referralId)
    .executeTakeFirst()
}

/** A referral's evidence, in the order it was issued. */
export function listEvidence(db: Kysely<Database>, referralId: string): Promise<EvidenceRow[]> {
  return db
    .selectFrom('evidence')
    .selectAll()
    .where('referral_id', '=', referralId)
    .orderBy('at')
    .orderBy('event')
    .execute()
}
