import { type CompiledQuery, isOperationNodeSource, type Kysely, type RawBuilder, sql } from 'kysely'
import { executePrepared, prepared } from '../../db/create-db.js'
import type {
  Database,
  NewAuditEventRow,
  NewInboxMessageRow,
  NewOutboxRow,
  NewReferralRow,
} from '../../db/types.js'

/** What must still hold when a submission is written; each is checked inside the writing statement. */
export interface SubmissionChecks {
  /** Key of the advisory lock taken for the duration of the statement (one submission at a time). */
  lockKey: string
  senderId: string
  /** The signing key that verified the document, by value: a key revoked or replaced since fails. */
  signingKey: { kid: string; jwk: Record<string, unknown> }
  recipientId: string
  /** The recipient's kind, which the consent rules were checked against. */
  recipientKind: string
  /** When routed by country: the recipient must still be that country's national contact point. */
  recipientCountry?: string | undefined
  /** The recipient encryption key the sensitive JWE names. */
  encryptionKid?: string | undefined
  /** A victim reference the sender gave: it must belong to a referral the sender is party to. */
  victimReference?: string | undefined
}

export interface SubmissionRows {
  referral: NewReferralRow & { id: string }
  inboxMessage: NewInboxMessageRow & { id: string }
  deadline: NewOutboxRow
  /** Written, with the delivery row, only when the recipient takes push delivery at that moment. */
  webhook: NewOutboxRow & { id: string }
  audit: NewAuditEventRow
}

/** SQLSTATE of trm_require (migrations/2026-11-23-09): the message is the refusal's code. */
export const CHECK_FAILED = 'TRM01'

/**
 * Writes a submission in one statement (one round trip, its own transaction): the referral, the
 * recipient's inbox message, the deadline job, the webhook job and delivery for a push recipient,
 * and the audit event. The checks run first, in the order listed, inside the statement; a failing
 * one raises {@link CHECK_FAILED} and a taken id raises a unique violation on referrals_pkey, and
 * either way nothing is written. Resolves to how many other referrals carry the same linkage token.
 */
export async function insertSubmission(
  db: Kysely<Database>,
  rows: SubmissionRows,
  checks: SubmissionChecks,
): Promise<{ linked: number }> {
  const { signingKey, ...plainChecks } = checks
  const values: SubmissionValues = {
    ...rows,
    checks: { ...plainChecks, signingKid: signingKey.kid, signingJwk: JSON.stringify(signingKey.jwk) },
  }
  const shape = JSON.stringify(
    Object.entries(values).map(([group, fields]) => [
      group,
      Object.keys(fields).filter((k) => fields[k] !== undefined),
    ]),
  )
  let compiled = submissionStatements.get(shape)
  if (!compiled) {
    compiled = compileSubmission(db, values)
    if (submissionStatements.size < 64) submissionStatements.set(shape, compiled)
  }
  const parameters = compiled.slots.map(({ group, field }) => parameter(group, field, values[group][field]))
  const result = await executePrepared<{ linked: string }>(db, { ...compiled.query, parameters })
  return { linked: Number(result.rows[0]!.linked) }
}

/** The submission's values by group and field: what the statement's parameters are read from. */
type SubmissionValues = { [G in keyof SubmissionRows]: Record<string, unknown> } & {
  checks: Record<string, unknown>
}

/** Stands in for one value while a statement shape is compiled; its place becomes a parameter. */
class Slot {
  constructor(
    readonly group: keyof SubmissionValues,
    readonly field: string,
  ) {}
}

/**
 * Submission statements by shape (which values are present): building and compiling the statement
 * cost more CPU than anything else the hub does for a referral, so each shape is compiled once,
 * with a {@link Slot} for every value, and later submissions only fill the parameters in.
 */
const submissionStatements = new Map<string, { query: CompiledQuery<{ linked: string }>; slots: Slot[] }>()

/** A value as a statement parameter; SQL would be sent as an object, so it is refused. */
function parameter(group: keyof SubmissionValues, field: string, value: unknown) {
  if (isOperationNodeSource(value)) throw new Error(`${group}.${field}: a submission value cannot be SQL`)
  return value
}

function slot(group: keyof SubmissionValues, field: string, value: unknown) {
  parameter(group, field, value)
  return new Slot(group, field)
}

function compileSubmission(db: Kysely<Database>, values: SubmissionValues) {
  const slots = Object.fromEntries(
    Object.entries(values).map(([group, fields]) => [
      group,
      Object.fromEntries(
        Object.entries(fields).map(([field, value]) => [
          field,
          value === undefined ? undefined : slot(group as keyof SubmissionValues, field, value),
        ]),
      ),
    ]),
  ) as Record<keyof SubmissionValues, Record<string, Slot | undefined>>
  const query = prepared(submissionStatement(slots).compile(db))
  return {
    query,
    slots: query.parameters.map((parameter) => {
      if (!(parameter instanceof Slot)) throw new Error('every parameter of the submission must be a slot')
      return parameter
    }),
  }
}

/** The submission statement over slots; an undefined check is left out of the statement's shape. */
function submissionStatement(v: Record<keyof SubmissionValues, Record<string, Slot | undefined>>) {
  const checks = v.checks
  const require = (condition: RawBuilder<unknown>, code: string, name: string) =>
    sql`trm_require(${condition}, ${sql.lit(code)}) as ${sql.ref(name)}`
  const gate = [
    require(sql`pg_try_advisory_xact_lock(hashtextextended(${checks['lockKey']}, 0))`, 'TRM_IN_PROGRESS', 'locked'),
    require(sql`exists (select from agencies where id = ${checks['senderId']} and status = 'active')`, 'TRM_AUTH_UNAUTHENTICATED', 'sender'),
    require(sql`exists (select from agency_keys where agency_id = ${checks['senderId']} and kid = ${checks['signingKid']}
        and use = 'sig' and status = 'active' and jwk = ${checks['signingJwk']}::jsonb)`, 'TRM_KEY_UNKNOWN', 'signing_key'),
    require(checks['recipientCountry'] === undefined
      ? sql`exists (select from agencies where id = ${checks['recipientId']} and status = 'active'
            and kind = ${checks['recipientKind']})`
      : sql`exists (select from agencies where id = ${checks['recipientId']} and status = 'active'
            and kind = ${checks['recipientKind']} and national_contact_point and country = ${checks['recipientCountry']})`, 'TRM_RECIPIENT_INVALID', 'recipient'),
    require(checks['encryptionKid'] === undefined
      ? sql`true`
      : sql`exists (select from agency_keys where agency_id = ${checks['recipientId']}
            and kid = ${checks['encryptionKid']} and use = 'enc' and status = 'active')`, 'TRM_SENSITIVE_INVALID', 'encryption_key'),
    require(checks['victimReference'] === undefined
      ? sql`true`
      : sql`exists (select from referrals where victim_reference = ${checks['victimReference']}
            and (sender_id = ${checks['senderId']} or recipient_id = ${checks['senderId']}))`, 'TRM_VICTIM_REFERENCE_UNKNOWN', 'victim_reference'),
  ]
  const { referral, inboxMessage, webhook } = v
  // The gate is materialised and read by the referral's own values, so the checks run before
  // anything is inserted.
  return sql<{ linked: string }>`
    with gate as materialized (select ${sql.join(gate)}),
    submitted as (
      ${insertRow('referrals', {
        ...referral,
        status: sql`(select case when locked and sender and signing_key and recipient
          and encryption_key and victim_reference then ${referral['status']} end from gate)`,
      })}
      returning id, linkage_token
    ),
    message as (${insertRow('inbox_messages', inboxMessage)}),
    deadline as (${insertRow('outbox', v.deadline)}),
    audit as (${insertRow('audit_events', v.audit)}),
    delivery as (
      insert into deliveries (message_id, agency_id, referral_id)
      select ${inboxMessage['id']}::uuid, id, ${referral['id']}::uuid from agencies
      where id = ${checks['recipientId']} and delivery_mode = 'push'
      returning message_id
    ),
    webhook as (
      insert into outbox (id, queue, job_name, payload)
      select ${webhook['id']}::uuid, ${webhook['queue']}::text, ${webhook['job_name']}::text, ${webhook['payload']}::jsonb
      from delivery
    )
    select (select count(*) from (select from referrals r where r.linkage_token = submitted.linkage_token
      and r.id <> submitted.id limit 1000) l) as linked
    from submitted
  `
}

/** `insert into table (columns) values (...)` for one row (a value may be a SQL expression the statement puts there); undefined is left out. */
function insertRow<T extends keyof Database>(table: T, row: Record<string, unknown>) {
  const columns = Object.keys(row).filter((column) => row[column] !== undefined)
  return sql`insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))})
    values (${sql.join(columns.map((c) => row[c]))})`
}

/** How referrals move to `delivered`: which states allow it, and what is recorded. */
export interface DeliveredMove {
  from: readonly string[]
  via: 'inbox' | 'webhook'
  requestId: string | null
  auditDetails: string
  statusBody: string
  webhook: { queue: string; jobName: string }
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
      returning r.id, r.sender_id, r.recipient_id, trm_uuid_v7() as message_id, trm_uuid_v7() as webhook_id
    ),
    moved_audit as (
      insert into audit_events (actor, action, target_type, target_id, referral_id, request_id, outcome, details)
      select ${move.via === 'inbox' ? sql`recipient_id::text` : sql`'system'`}, 'referral.delivered', 'referral',
        id::text, id, ${move.requestId}, 'success', ${move.auditDetails}::jsonb
      from moved
    ),
    moved_message as (
      insert into inbox_messages (id, agency_id, type, referral_id, body)
      select message_id, sender_id, 'status', id, ${move.statusBody}::jsonb from moved
    ),
    moved_delivery as (
      insert into deliveries (message_id, agency_id, referral_id)
      select m.message_id, m.sender_id, m.id from moved m
      join agencies a on a.id = m.sender_id and a.delivery_mode = 'push'
      returning message_id
    ),
    moved_webhook as (
      insert into outbox (id, queue, job_name, payload)
      select m.webhook_id, ${move.webhook.queue}, ${move.webhook.jobName}, jsonb_build_object('messageId', m.message_id)
      from moved m join moved_delivery d on d.message_id = m.message_id
    ),
    delivered as (
      select m.id, m.sender_id, exists (select from moved_delivery d where d.message_id = m.message_id) as push
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
 * Transaction-scoped advisory lock on one (sender, id): a concurrent submission of the same referral
 * learns at once that it is in flight instead of queueing behind it. False when another holds it.
 */
export async function tryLockSubmission(
  db: Kysely<Database>,
  senderId: string,
  id: string,
): Promise<boolean> {
  const { rows } = await sql<{
    ok: boolean
  }>`select pg_try_advisory_xact_lock(hashtextextended(${`referral:${senderId}:${id}`}, 0)) as ok`.execute(db)
  return rows[0]?.ok === true
}

/** True when the reference belongs to a referral the agency sent or received. */
export async function isReferenceKnownTo(db: Kysely<Database>, reference: string, agencyId: string) {
  const row = await db
    .selectFrom('referrals')
    .select('id')
    .where('victim_reference', '=', reference)
    .where((eb) => eb.or([eb('sender_id', '=', agencyId), eb('recipient_id', '=', agencyId)]))
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/** Other referrals with the same linkage token: how many in all, and the ids of those the agency is party to. */
export async function findLinked(db: Kysely<Database>, token: string, exceptId: string, agencyId: string) {
  const rows = await db
    .selectFrom('referrals')
    .select(['id', 'sender_id', 'recipient_id'])
    .where('linkage_token', '=', token)
    .where('id', '!=', exceptId)
    .orderBy('seq')
    .limit(1000)
    .execute()
  return {
    count: rows.length,
    visibleIds: rows.filter((r) => r.sender_id === agencyId || r.recipient_id === agencyId).map((r) => r.id),
  }
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

export function listAcknowledgements(db: Kysely<Database>, referralId: string) {
  return db
    .selectFrom('acknowledgements')
    .selectAll()
    .where('referral_id', '=', referralId)
    .orderBy('seq')
    .execute()
}

/** True when the agency received an escalation for the referral (a national contact point's view). */
export async function hasEscalation(db: Kysely<Database>, referralId: string, agencyId: string) {
  const row = await db
    .selectFrom('inbox_messages')
    .select('id')
    .where('referral_id', '=', referralId)
    .where('agency_id', '=', agencyId)
    .where('type', '=', 'escalation')
    .limit(1)
    .executeTakeFirst()
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
    jws?: null
  },
) {
  return db
    .updateTable('referrals')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}
