import { type CompiledQuery, type Kysely, sql } from 'kysely'
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

/** The referral columns a submission writes, every one of them. */
const REFERRAL_COLUMNS = [
  'id',
  'sender_id',
  'recipient_id',
  'sender_country',
  'recipient_country',
  'status',
  'urgency',
  'stage',
  'victim_reference',
  'linkage_token',
  'age_group',
  'minor',
  'gender',
  'citizenship',
  'exploitation_forms',
  'exploitation_countries',
  'identified_in',
  'needs',
  'consent_status',
  'has_sensitive',
  'jws',
  'payload_sha256',
  'receipt',
  'document_created_at',
  'submitted_at',
  'ack_due_at',
] as const satisfies readonly (keyof NewReferralRow)[]

export type SubmittedReferral = {
  [K in (typeof REFERRAL_COLUMNS)[number]]-?: Exclude<NewReferralRow[K], undefined>
}

export interface SubmissionRows {
  referral: SubmittedReferral
  inboxMessage: NewInboxMessageRow & { id: string }
  deadline: NewOutboxRow
  /** Written, with the delivery row, only when the recipient takes push delivery at that moment. */
  webhook: NewOutboxRow & { id: string }
  audit: NewAuditEventRow
}

/** SQLSTATE of trm_require (migrations/2026-11-23-09): the message is the refusal's code. */
export const CHECK_FAILED = 'TRM01'

/** The columns of a record read from JSON, with their types; `jsonb` ones arrive as JSON text. */
function record(alias: string, source: string, columns: Record<string, string>) {
  const definitions = Object.entries(columns).map(
    ([name, type]) => `${name} ${type === 'jsonb' ? 'text' : type}`,
  )
  return {
    from: `json_to_record(${source}) as ${alias}(${definitions.join(', ')})`,
    columns: Object.keys(columns).join(', '),
    values: Object.entries(columns)
      .map(([name, type]) => `${alias}.${name}${type === 'jsonb' ? '::jsonb' : ''}`)
      .join(', '),
  }
}

const OUTBOX = { id: 'uuid', queue: 'text', job_name: 'text', payload: 'jsonb', run_at: 'timestamptz' }
const checks = record('c', 'input.checks', {
  lock_key: 'text',
  sender_id: 'uuid',
  signing_kid: 'text',
  signing_jwk: 'jsonb',
  recipient_id: 'uuid',
  recipient_kind: 'text',
  recipient_country: 'text',
  encryption_kid: 'text',
  victim_reference: 'text',
})
const message = record('m', 'input.message', {
  id: 'uuid',
  agency_id: 'uuid',
  type: 'text',
  referral_id: 'uuid',
  acknowledgement_id: 'uuid',
  jws: 'text',
  body: 'jsonb',
})
const deadline = record('d', 'input.deadline', OUTBOX)
const webhook = record('w', 'input.webhook', OUTBOX)
const audit = record('a', 'input.audit', {
  actor: 'text',
  action: 'text',
  target_type: 'text',
  target_id: 'text',
  referral_id: 'uuid',
  request_id: 'text',
  outcome: 'text',
  details: 'jsonb',
})
const GATE = ['locked', 'sender', 'signing_key', 'recipient', 'encryption_key', 'victim_reference']

/**
 * Writes one or more submissions in one statement (one round trip, one transaction), read from one
 * JSON array: for each, the referral, the recipient's inbox message, the deadline job, the webhook
 * job and delivery for a push recipient, and the audit event. Each submission's checks run in the
 * gate, in the order of {@link SubmissionChecks}, before its referral is inserted; a failing one
 * raises {@link CHECK_FAILED} (the message is the refusal's code) and a taken id raises a unique
 * violation on referrals_pkey, and either way nothing at all is written. Answers, per referral, how
 * many other referrals carry the same linkage token.
 */
const STATEMENT = `
  with input as materialized (
    select x.checks, x.referral, x.message, x.deadline, x.webhook, x.audit
    from json_to_recordset($1::json) as x(checks json, referral json, message json, deadline json, webhook json, audit json)
  ),
  gate as materialized (
    select (input.referral->>'id')::uuid as id,
      trm_require(pg_try_advisory_xact_lock(hashtextextended(c.lock_key, 0)), 'TRM_IN_PROGRESS') as locked,
      trm_require(exists (select from agencies where id = c.sender_id and status = 'active'),
        'TRM_AUTH_UNAUTHENTICATED') as sender,
      trm_require(exists (select from agency_keys where agency_id = c.sender_id and kid = c.signing_kid
        and use = 'sig' and status = 'active' and jwk = c.signing_jwk::jsonb), 'TRM_KEY_UNKNOWN') as signing_key,
      trm_require(exists (select from agencies where id = c.recipient_id and status = 'active'
        and kind = c.recipient_kind
        and (c.recipient_country is null or (national_contact_point and country = c.recipient_country))),
        'TRM_RECIPIENT_INVALID') as recipient,
      trm_require(c.encryption_kid is null or exists (select from agency_keys where agency_id = c.recipient_id
        and kid = c.encryption_kid and use = 'enc' and status = 'active'), 'TRM_SENSITIVE_INVALID') as encryption_key,
      trm_require(c.victim_reference is null or exists (select from referrals where victim_reference = c.victim_reference
        and (sender_id = c.sender_id or recipient_id = c.sender_id)), 'TRM_VICTIM_REFERENCE_UNKNOWN') as victim_reference
    from input cross join lateral ${checks.from}
  ),
  submitted as (
    insert into referrals (${REFERRAL_COLUMNS.join(', ')})
    select ${REFERRAL_COLUMNS.map((column) =>
      // The status reads the gate, so each referral's checks run before it is inserted.
      column === 'status'
        ? `case when ${GATE.map((g) => `gate.${g}`).join(' and ')} then r.status end`
        : `r.${column}`,
    ).join(', ')}
    from input cross join lateral json_populate_record(null::referrals, input.referral) r
    join gate on gate.id = r.id
    returning id, linkage_token
  ),
  message as (
    insert into inbox_messages (${message.columns}) select ${message.values} from input cross join lateral ${message.from}
  ),
  deadline as (
    insert into outbox (${deadline.columns}) select ${deadline.values} from input cross join lateral ${deadline.from}
  ),
  audit as (
    insert into audit_events (${audit.columns}) select ${audit.values} from input cross join lateral ${audit.from}
  ),
  delivery as (
    insert into deliveries (message_id, agency_id, referral_id)
    select m.id, agencies.id, m.referral_id
    from input cross join lateral json_to_record(input.message) as m(id uuid, agency_id uuid, referral_id uuid)
    join agencies on agencies.id = m.agency_id and agencies.delivery_mode = 'push'
    returning message_id
  ),
  webhook as (
    insert into outbox (${webhook.columns}) select ${webhook.values} from input cross join lateral ${webhook.from}
    where (input.message->>'id')::uuid in (select message_id from delivery)
  )
  select submitted.id, (select count(*) from (select from referrals r where r.linkage_token = submitted.linkage_token
    and r.id <> submitted.id limit 1000) l) as linked
  from submitted
`

interface Written {
  id: string
  linked: string
}

let compiled: CompiledQuery<Written> | undefined

/** Writes the submissions in one statement; resolves to the linked count by referral id. */
async function writeSubmissions(
  db: Kysely<Database>,
  entries: readonly { rows: SubmissionRows; checks: SubmissionChecks }[],
): Promise<Map<string, number>> {
  compiled ??= prepared(sql<Written>`${sql.raw(STATEMENT)}`.compile(db))
  const input = entries.map(({ rows, checks }) => {
    const { signingKey, lockKey, senderId, recipientId, recipientKind } = checks
    return {
      checks: {
        lock_key: lockKey,
        sender_id: senderId,
        signing_kid: signingKey.kid,
        signing_jwk: JSON.stringify(signingKey.jwk),
        recipient_id: recipientId,
        recipient_kind: recipientKind,
        recipient_country: checks.recipientCountry ?? null,
        encryption_kid: checks.encryptionKid ?? null,
        victim_reference: checks.victimReference ?? null,
      },
      referral: rows.referral,
      message: rows.inboxMessage,
      deadline: rows.deadline,
      webhook: rows.webhook,
      audit: rows.audit,
    }
  })
  const result = await executePrepared<Written>(db, { ...compiled, parameters: [JSON.stringify(input)] })
  return new Map(result.rows.map((row) => [row.id, Number(row.linked)]))
}

interface Pending {
  rows: SubmissionRows
  checks: SubmissionChecks
  resolve: (result: { linked: number }) => void
  reject: (error: unknown) => void
}

/**
 * Writes submissions, several to a statement when they arrive together. At most `statementsInFlight`
 * statements run at once; what arrives meanwhile waits and goes into the next statement, up to
 * `maxBatch` submissions with distinct ids. So at low load each submission has its statement at
 * once, and under load many share one statement's round trip, plan and commit (the WAL flush), which
 * is what a submission's write mostly costs Postgres. The commit comes before any answer.
 *
 * A statement holds its submissions together: one refusal or error aborts all of them. So when a
 * statement of several fails, each is written again on its own, and gets its own answer: the refusal
 * for the one at fault, success for the others.
 */
export class SubmissionWriter {
  readonly #db: Kysely<Database>
  readonly #statementsInFlight: number
  readonly #maxBatch: number
  #waiting: Pending[] = []
  #inFlight = 0

  constructor(db: Kysely<Database>, options: { statementsInFlight: number; maxBatch?: number }) {
    if (!(options.statementsInFlight >= 1)) throw new RangeError('statementsInFlight must be at least 1')
    this.#db = db
    this.#statementsInFlight = options.statementsInFlight
    this.#maxBatch = options.maxBatch ?? 64
  }

  /** Submissions waiting for a statement (not those in one). */
  get waiting(): number {
    return this.#waiting.length
  }

  /** Writes one submission (see {@link writeSubmissions}); resolves once it is committed. */
  write(rows: SubmissionRows, checks: SubmissionChecks): Promise<{ linked: number }> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ rows, checks, resolve, reject })
      this.#next()
    })
  }

  #next() {
    while (this.#inFlight < this.#statementsInFlight && this.#waiting.length > 0) {
      const batch: Pending[] = []
      const ids = new Set<string>()
      const later: Pending[] = []
      for (const pending of this.#waiting) {
        // The same id twice in one statement would fail it for both; the second waits its turn.
        if (batch.length < this.#maxBatch && !ids.has(pending.rows.referral.id)) {
          ids.add(pending.rows.referral.id)
          batch.push(pending)
        } else later.push(pending)
      }
      this.#waiting = later
      this.#inFlight++
      void this.#write(batch).finally(() => {
        this.#inFlight--
        this.#next()
      })
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    try {
      const linked = await writeSubmissions(this.#db, batch)
      for (const pending of batch) settle(pending, linked)
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error)
        return
      }
      await Promise.all(
        batch.map((pending) =>
          writeSubmissions(this.#db, [pending]).then((linked) => settle(pending, linked), pending.reject),
        ),
      )
    }
  }
}

function settle(pending: Pending, linked: Map<string, number>) {
  const count = linked.get(pending.rows.referral.id)
  if (count === undefined)
    pending.reject(new Error('the submission statement did not return a written referral'))
  else pending.resolve({ linked: count })
}
