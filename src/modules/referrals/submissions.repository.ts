import { type CompiledQuery, type Kysely, sql } from 'kysely'
import { executePrepared, prepared } from '../../db/create-db.js'
import type { Database, NewAuditEventRow, NewInboxMessageRow, NewReferralRow } from '../../db/types.js'
import { GroupCommit } from '../../lib/group-commit.js'
import { insertAuditRows } from '../ledger/audit.repository.js'
import { pushDeliveryCtes } from '../ledger/inbox.repository.js'
import type { SubmissionRefusal } from './referrals.refusals.js'

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
  recipientCountry: string | null
  /** The recipient encryption key the sensitive JWE names. */
  encryptionKid: string | null
  /**
   * Onward referral: the parent it hands on. The parent must be one the sender may see (else it is
   * "unknown", existing or not), the sender its recipient, received, of the same victim reference,
   * with `onward_sharing` consent and no `no_onward_sharing` handling; it is locked `for share`.
   */
  onwardOf: string | null
  /** A victim reference the sender gave: it must belong to a referral the sender is party to. */
  victimReference: string | null
}

/** The referral columns a submission writes, every one of them (its times as the hub set them). */
export type SubmittedReferral = { submitted_at: Date; ack_due_at: Date } & Required<
  Pick<
    NewReferralRow,
    | 'id'
    | 'sender_id'
    | 'recipient_id'
    | 'sender_country'
    | 'recipient_country'
    | 'status'
    | 'urgency'
    | 'stage'
    | 'victim_reference'
    | 'age_group'
    | 'minor'
    | 'gender'
    | 'citizenship'
    | 'exploitation_forms'
    | 'exploitation_countries'
    | 'identified_in'
    | 'needs'
    | 'consent_status'
    | 'consent_scope'
    | 'handling'
    | 'onward_of'
    | 'has_sensitive'
    | 'payload_sha256'
    | 'receipt'
    | 'document_created_at'
    | 'submitted_at'
    | 'ack_due_at'
  >
>

/** One submission: the rows it writes and the checks they are written under. */
export interface Submission {
  referral: SubmittedReferral
  /** The signed document as received (with its `sensitive` JWE): its own row, which erasure deletes. */
  jws: string
  linkageToken: string | null
  /** Its delivery row and webhook job are written too when the recipient takes push delivery. */
  inboxMessage: NewInboxMessageRow & { id: string }
  /** Onward referral: the message to the parent's sender (written to it, whom the statement finds). */
  onwardNotice: { id: string; body: string } | null
  /** Its audit events: `referral.submitted`, and for an onward referral the parent's `referral.handed_on`. */
  audit: NewAuditEventRow[]
  checks: SubmissionChecks
}

/** What became of a submission: written (with how many other referrals share its linkage token and,
 *  for an onward referral, the parent's sender it notified), its id already taken (a replay or a
 *  mismatch), or refused by a check. */
export type SubmissionOutcome =
  | { kind: 'written'; linked: number; notified: string | null }
  | { kind: 'taken' }
  | { kind: 'refused'; code: SubmissionRefusal }

/** Stands for the submissions' JSON in the statement compiled once; replaced by it on each run. */
const INPUT = '\u0000submissions'

interface Answer {
  n: number
  refusal: SubmissionRefusal | null
  written: boolean
  linked: string
  notified: string | null
}

/**
 * Writes one or more submissions in one statement (one round trip, one transaction), read from one
 * JSON array (the parameter {@link INPUT} stands for) of { n, checks, referral, jws, linkage_token,
 * message, onward_notice, audit }.
 *
 * `gate` decides each submission on its own: its checks run in the order of {@link SubmissionChecks},
 * and the first that fails is its refusal. A refused submission, and one whose id is already taken
 * (`on conflict do nothing`), writes nothing; the others in the statement are written all the same.
 * For each one written: the referral, its JWS and linkage token (tables of their own, erasure
 * rewrites them), the recipient's inbox message, with its delivery row and webhook job when the
 * recipient takes push delivery, and the audit events; for an onward referral also the
 * `onward_referral` message to the parent's sender. (No deadline job: the worker's deadline sweep
 * reads the referral's ack_due_at.) It answers one row per
 * submission, by its position `n`: the refusal, whether it was written, and how many other referrals
 * its sender is party to carry the same linkage token (earlier ones in the same statement included;
 * never those of other parties; at most 1000 counted).
 */
function submissionStatement(db: Kysely<Database>): CompiledQuery<Answer> {
  return sql<Answer>`
    with input as materialized (
      select x.n, (x.referral->>'id')::uuid as id, x.checks, x.referral, x.jws, x.linkage_token,
        x.message, x.onward_notice, x.audit
      from json_to_recordset(${INPUT}::json) as x(n int, checks json, referral json, jws text,
        linkage_token text, message json, onward_notice json, audit json)
    ),
    gate as materialized (
      select input.n, input.id, parent.sender_id as parent_sender, case
        when not pg_try_advisory_xact_lock(hashtextextended(c.lock_key, 0)) then 'TRM_IN_PROGRESS'
        when not exists (select from agencies where id = c.sender_id and status = 'active')
          then 'TRM_AUTH_UNAUTHENTICATED'
        when not exists (select from agency_keys where agency_id = c.sender_id and kid = c.signing_kid
          and use = 'sig' and status = 'active' and jwk = c.signing_jwk) then 'TRM_KEY_UNKNOWN'
        when not exists (select from agencies where id = c.recipient_id and status = 'active'
          and kind = c.recipient_kind
          and (c.recipient_country is null or (national_contact_point and country = c.recipient_country)))
          then 'TRM_RECIPIENT_INVALID'
        when c.encryption_kid is not null and not exists (select from agency_keys
          where agency_id = c.recipient_id and kid = c.encryption_kid and use = 'enc' and status = 'active')
          then 'TRM_SENSITIVE_INVALID'
        when c.onward_of is not null and parent.sender_id is null then 'TRM_ONWARD_PARENT_UNKNOWN'
        when parent.refusal is not null then parent.refusal
        when c.victim_reference is not null and not exists (select from referrals
          where victim_reference = c.victim_reference and (sender_id = c.sender_id or recipient_id = c.sender_id))
          then 'TRM_VICTIM_REFERENCE_UNKNOWN'
      end as refusal
      from input cross join lateral json_to_record(input.checks) as c(lock_key text, sender_id uuid,
        signing_kid text, signing_jwk jsonb, recipient_id uuid, recipient_kind text, recipient_country text,
        encryption_kid text, onward_of uuid, victim_reference text)
      -- Onward referral: the parent, if the sender may see it, held until commit.
      left join lateral (
        select p.sender_id, case
          when p.recipient_id <> c.sender_id then 'TRM_ONWARD_NOT_RECIPIENT'
          when p.received_at is null then 'TRM_ONWARD_PARENT_NOT_RECEIVED'
          when p.victim_reference is distinct from c.victim_reference then 'TRM_ONWARD_VICTIM_MISMATCH'
          when p.consent_withdrawn && array['all', 'onward_sharing'] then 'TRM_ONWARD_CONSENT_WITHDRAWN'
          when 'law_enforcement' = any (p.consent_withdrawn)
            and c.recipient_kind in ('law_enforcement', 'prosecution') then 'TRM_ONWARD_CONSENT_WITHDRAWN'
          when not 'onward_sharing' = any (p.consent_scope) then 'TRM_ONWARD_CONSENT_MISSING'
          when 'no_onward_sharing' = any (p.handling) then 'TRM_ONWARD_HANDLING_FORBIDS'
        end as refusal
        from referrals p
        where p.id = c.onward_of and (c.sender_id in (p.sender_id, p.recipient_id) or exists (
          select from inbox_messages e where e.referral_id = p.id and e.agency_id = c.sender_id
            and e.type = 'escalation'))
        for share of p
      ) parent on true
    ),
    submitted as (
      insert into referrals (id, sender_id, recipient_id, sender_country, recipient_country, status,
        urgency, stage, victim_reference, age_group, minor, gender, citizenship, exploitation_forms,
        exploitation_countries, identified_in, needs, consent_status, consent_scope, handling, onward_of,
        has_sensitive, payload_sha256, receipt, document_created_at, submitted_at, ack_due_at)
      select r.id, r.sender_id, r.recipient_id, r.sender_country, r.recipient_country, r.status,
        r.urgency, r.stage, r.victim_reference, r.age_group, r.minor, r.gender, r.citizenship,
        r.exploitation_forms, r.exploitation_countries, r.identified_in, r.needs, r.consent_status,
        r.consent_scope, r.handling, r.onward_of, r.has_sensitive, r.payload_sha256, r.receipt, r.document_created_at, r.submitted_at, r.ack_due_at
      from gate join input on input.n = gate.n
        cross join lateral json_populate_record(null::referrals, input.referral) r
      where gate.refusal is null
      on conflict (id) do nothing
      returning id, seq, sender_id, recipient_id
    ),
    written as (select * from input where id in (select id from submitted)),
    payload as (
      insert into referral_payloads (referral_seq, jws)
      select submitted.seq, written.jws from written join submitted on submitted.id = written.id
    ),
    linkage as (
      insert into linkage_tokens (referral_id, token)
      select id, linkage_token from written where linkage_token is not null
    ),
    message as (
      insert into inbox_messages (id, agency_id, type, referral_id, acknowledgement_id, body)
      select m.id, m.agency_id, m.type, m.referral_id, m.acknowledgement_id, m.body::jsonb
      from written cross join lateral json_to_record(written.message) as m(id uuid, agency_id uuid,
        type text, referral_id uuid, acknowledgement_id uuid, body text)
      union all
      -- Onward referral: the parent's sender learns which agency took the case on.
      select o.id, gate.parent_sender, 'onward_referral', (written.checks->>'onward_of')::uuid, null,
        o.body::jsonb
      from written join gate on gate.n = written.n
        cross join lateral json_to_record(written.onward_notice) as o(id uuid, body text)
      where written.onward_notice is not null
      returning id as message_id, agency_id, referral_id
    ),
    ${pushDeliveryCtes('push', 'message')},
    audit as (
      ${insertAuditRows(sql`select a.actor, a.action, a.target_type, a.target_id, a.referral_id,
          a.request_id, a.outcome, a.details::jsonb as details
        from written cross join lateral json_to_recordset(written.audit) as a(actor text, action text,
          target_type text, target_id text, referral_id uuid, request_id text, outcome text, details text)`)}
    )
    select gate.n, gate.refusal, s.id is not null as written,
      case when s.id is not null then gate.parent_sender end as notified,
      case when s.id is null or own.linkage_token is null then 0 else
        (select count(*) from (select from linkage_tokens l join referrals r on r.id = l.referral_id
          where l.token = own.linkage_token and l.referral_id <> s.id
            and s.sender_id in (r.sender_id, r.recipient_id) limit 1000) l)
        + (select count(*) from written earlier join submitted e on e.id = earlier.id
          where earlier.linkage_token = own.linkage_token and earlier.n < gate.n
            and s.sender_id in (e.sender_id, e.recipient_id))
      end as linked
    from gate join input own on own.n = gate.n left join submitted s on s.id = gate.id
  `.compile(db)
}

let statement: CompiledQuery<Answer> | undefined

/** Writes the submissions in one statement; answers, in their order, what became of each. */
export async function writeSubmissions(
  db: Kysely<Database>,
  submissions: readonly Submission[],
): Promise<SubmissionOutcome[]> {
  statement ??= prepared(submissionStatement(db))
  const input = submissions.map(
    ({ checks, referral, jws, linkageToken, inboxMessage, onwardNotice, audit }, n) => ({
      n,
      checks: {
        lock_key: checks.lockKey,
        sender_id: checks.senderId,
        signing_kid: checks.signingKey.kid,
        signing_jwk: checks.signingKey.jwk,
        recipient_id: checks.recipientId,
        recipient_kind: checks.recipientKind,
        recipient_country: checks.recipientCountry,
        encryption_kid: checks.encryptionKid,
        onward_of: checks.onwardOf,
        victim_reference: checks.victimReference,
      },
      referral,
      jws,
      linkage_token: linkageToken,
      message: inboxMessage,
      onward_notice: onwardNotice,
      audit,
    }),
  )
  const json = JSON.stringify(input)
  const parameters = statement.parameters.map((parameter) => (parameter === INPUT ? json : parameter))
  const { rows } = await executePrepared<Answer>(db, { ...statement, parameters })
  const answers = new Map(rows.map((row) => [row.n, row]))
  return submissions.map((_, n): SubmissionOutcome => {
    const answer = answers.get(n)
    if (!answer) throw new Error(`the submission statement did not answer for submission ${n}`)
    if (answer.refusal !== null) return { kind: 'refused', code: answer.refusal }
    if (!answer.written) return { kind: 'taken' }
    return { kind: 'written', linked: Number(answer.linked), notified: answer.notified }
  })
}

/** Submissions waiting for, or in, a statement. */
export type SubmissionQueue = GroupCommit<Submission, SubmissionOutcome>

/**
 * Writes submissions, several to a statement when they arrive together (group commit, see
 * lib/group-commit.ts): under load many share one statement's round trip, plan and commit (the WAL
 * flush), which is what a submission's write mostly costs Postgres. At most `statementsInFlight` run
 * at once, and two submissions of the same id never share one. The commit comes before any answer.
 */
export function submissionQueue(
  db: Kysely<Database>,
  options: { statementsInFlight: number; maxWaiting?: number },
): SubmissionQueue {
  return new GroupCommit((batch: readonly Submission[]) => writeSubmissions(db, batch), {
    concurrency: options.statementsInFlight,
    maxBatch: 64,
    maxWaiting: options.maxWaiting ?? Number.POSITIVE_INFINITY,
    key: (submission) => submission.referral.id.toLowerCase(),
  })
}
