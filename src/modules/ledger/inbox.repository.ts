import { type Kysely, sql } from 'kysely'
import type { Database, NewInboxMessageRow } from '../../db/types.js'
import { WEBHOOK_JOB } from './outbox.service.js'

export interface NewInboxMessage {
  id: string
  agencyId: string
  type:
    | 'referral'
    | 'acknowledgement'
    | 'status'
    | 'escalation'
    | 'erasure'
    | 'onward_referral'
    | 'evidence'
    | 'consent_withdrawn'
    | 'erasure_confirmed'
  referralId: string
  acknowledgementId?: string
  body?: Record<string, unknown>
}

/**
 * Appends a message to an agency's inbox. Its order is (txid, seq): readers see it once every older
 * transaction has finished (see migrations/2026-11-22-07), so no lock is held for the recipient.
 */
export async function appendInboxMessage(db: Kysely<Database>, message: NewInboxMessage): Promise<void> {
  await db.insertInto('inbox_messages').values(inboxMessageRow(message)).execute()
}

export function inboxMessageRow(message: NewInboxMessage): NewInboxMessageRow {
  return {
    agency_id: message.agencyId,
    id: message.id,
    type: message.type,
    referral_id: message.referralId,
    acknowledgement_id: message.acknowledgementId ?? null,
    body: message.body ? JSON.stringify(message.body) : null,
  }
}

/**
 * Common table expressions giving each new inbox message that `messages` names (a CTE with columns
 * message_id, agency_id, referral_id) to a push agency its delivery row and its webhook job (the
 * relay moves the job to BullMQ; the job id is the outbox row's). `<prefix>_delivery` returns the
 * message ids delivered by webhook. Every statement that puts messages in inboxes uses it.
 */
export function pushDeliveryCtes(prefix: string, messages: string) {
  const delivery = sql.raw(`${prefix}_delivery`)
  return sql`
    ${delivery} as (
      insert into deliveries (message_id, agency_id, referral_id)
      select m.message_id, m.agency_id, m.referral_id from ${sql.raw(messages)} m
      join agencies a on a.id = m.agency_id and a.delivery_mode = 'push'
      returning message_id
    ),
    ${sql.raw(`${prefix}_webhook`)} as (
      insert into outbox (id, queue, job_name, payload)
      select trm_uuid_v7(), ${WEBHOOK_JOB.queue}, ${WEBHOOK_JOB.name}, jsonb_build_object('messageId', message_id)
      from ${delivery}
    )`
}

/**
 * Appends a message to an agency's inbox, with its webhook delivery and job when the agency takes
 * push delivery, in one statement; answers whether it is pushed. Its order is (txid, seq): readers
 * see it once every older transaction has finished (migrations/2026-11-22-07), so no lock is held
 * for the recipient.
 */
export async function insertMessage(
  db: Kysely<Database>,
  message: NewInboxMessage,
): Promise<{ push: boolean }> {
  const row = inboxMessageRow(message)
  const { rows } = await sql<{ push: boolean }>`
    with message as (
      insert into inbox_messages (id, agency_id, type, referral_id, acknowledgement_id, body)
      values (${row.id}, ${row.agency_id}, ${row.type}, ${row.referral_id}, ${row.acknowledgement_id},
        ${row.body}::jsonb)
      returning id as message_id, agency_id, referral_id
    ),
    ${pushDeliveryCtes('push', 'message')}
    select exists (select from push_delivery) as push
  `.execute(db)
  return { push: rows[0]!.push }
}

const COLUMNS = [
  'agency_id',
  'seq',
  'txid',
  'id',
  'type',
  'referral_id',
  'acknowledgement_id',
  'jws',
  'body',
  'created_at',
  'confirmed_at',
] as const

/** Named, not `*`: a prepared statement's result must not change when a migration adds a column. */
export const INBOX_COLUMNS = sql.join(COLUMNS.map((column) => sql.ref(column)))

/**
 * An inbox message's columns from `inbox_messages m` left-joined by {@link MESSAGE_JWS_JOIN}. A
 * message stores no copy of a signed document (it would double what a submission writes, and leave
 * a copy in a hot table that erasure cannot rewrite): a referral message's `jws` is its referral's,
 * an acknowledgement message's its acknowledgement's, so erasing them erases it here too.
 */
export const MESSAGE_COLUMNS = sql.join(
  COLUMNS.map((column) =>
    column === 'jws'
      ? sql`coalesce(message_referral.jws, message_acknowledgement.jws) as jws`
      : sql.ref(`m.${column}`),
  ),
)

/**
 * Joins the payload whose JWS a message shows (see {@link MESSAGE_COLUMNS}); a referral's payload is
 * keyed by the referral's seq, found through the referral.
 */
export const MESSAGE_JWS_JOIN = sql`left join referrals message_referral_row
    on m.type = 'referral' and message_referral_row.id = m.referral_id
  left join referral_payloads message_referral on message_referral.referral_seq = message_referral_row.seq
  left join acknowledgement_payloads message_acknowledgement
    on m.type = 'acknowledgement' and message_acknowledgement.referral_id = m.referral_id
      and message_acknowledgement.acknowledgement_id = m.acknowledgement_id`
