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
  /** The signed document as received (with its `sensitive` JWE): its own row, which erasure deletes. */
  jws: string
  linkageToken: string | null
  inboxMessage: NewInboxMessageRow & { id: string }
  deadline: NewOutboxRow
  /** Written, with the delivery row, only when the recipient takes push delivery at that moment. */
  webhook: NewOutboxRow & { id: string }
  audit: NewAuditEventRow
}

/** Why the statement did not write a submission: a check that failed, or its id already taken. */
export type SubmissionRefusal =
  | 'TRM_IN_PROGRESS'
  | 'TRM_AUTH_UNAUTHENTICATED'
  | 'TRM_KEY_UNKNOWN'
  | 'TRM_RECIPIENT_INVALID'
  | 'TRM_SENSITIVE_INVALID'
  | 'TRM_VICTIM_REFERENCE_UNKNOWN'
  | 'TRM_ID_TAKEN'

/**
 * A submission that was not given to a statement: the queue of waiting submissions was full, or its
 * client had gone before its turn came. Nothing of it was written.
 */
export class SubmissionNotQueued extends Error {
  constructor(readonly reason: 'queue-full' | 'client-gone') {
    super(`the submission was not written: ${reason}`)
    this.name = 'SubmissionNotQueued'
  }
}

/** A submission the statement did not write, and why; the other submissions it carried are written. */
export class SubmissionRefused extends Error {
  constructor(readonly refusal: SubmissionRefusal) {
    super(`the submission was not written: ${refusal}`)
    this.name = 'SubmissionRefused'
  }
}

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
/**
 * Writes one or more submissions in one statement (one round trip, one transaction), read from one
 * JSON array: for each, the referral, its JWS and linkage token (in tables of their own, see
 * migrations/2026-12-03-02), the recipient's inbox message, the deadline job, the webhook job and
 * delivery for a push recipient, and the audit event.
 *
 * The gate decides each submission on its own: its checks run in the order of
 * {@link SubmissionChecks}, and the first that fails is its refusal. A refused submission, and one
 * whose id is already taken (`on conflict do nothing`), writes nothing, and the others in the
 * statement are written all the same. Answers one row per submission, by its position `n`: the
 * refusal, whether it was written, and how many other referrals its sender is party to carry the
 * same linkage token (earlier ones in the same statement included; never those of other parties).
 */
const STATEMENT = `
  with input as materialized (
    select x.n, (x.referral->>'id')::uuid as id, x.checks, x.referral, x.jws, x.linkage_token, x.message,
      x.deadline, x.webhook, x.audit
    from json_to_recordset($1::json) as x(n int, checks json, referral json, jws text, linkage_token text,
      message json, deadline json, webhook json, audit json)
  ),
  gate as materialized (
    select input.n, input.id, case
      when not pg_try_advisory_xact_lock(hashtextextended(c.lock_key, 0)) then 'TRM_IN_PROGRESS'
      when not exists (select from agencies where id = c.sender_id and status = 'active')
        then 'TRM_AUTH_UNAUTHENTICATED'
      when not exists (select from agency_keys where agency_id = c.sender_id and kid = c.signing_kid
        and use = 'sig' and status = 'active' and jwk = c.signing_jwk::jsonb) then 'TRM_KEY_UNKNOWN'
      when not exists (select from agencies where id = c.recipient_id and status = 'active'
        and kind = c.recipient_kind
        and (c.recipient_country is null or (national_contact_point and country = c.recipient_country)))
        then 'TRM_RECIPIENT_INVALID'
      when c.encryption_kid is not null and not exists (select from agency_keys where agency_id = c.recipient_id
        and kid = c.encryption_kid and use = 'enc' and status = 'active') then 'TRM_SENSITIVE_INVALID'
      when c.victim_reference is not null and not exists (select from referrals
        where victim_reference = c.victim_reference and (sender_id = c.sender_id or recipient_id = c.sender_id))
        then 'TRM_VICTIM_REFERENCE_UNKNOWN'
    end as refusal
    from input cross join lateral ${checks.from}
  ),
  submitted as (
    insert into referrals (${REFERRAL_COLUMNS.join(', ')})
    select ${REFERRAL_COLUMNS.map((column) => `r.${column}`).join(', ')}
    from gate join input on input.n = gate.n
      cross join lateral json_populate_record(null::referrals, input.referral) r
    where gate.refusal is null
    on conflict (id) do nothing
    returning id, sender_id, recipient_id
  ),
  written as (select * from input where id in (select id from submitted)),
  payload as (
    insert into referral_payloads (referral_id, jws) select id, jws from written
  ),
  linkage as (
    insert into linkage_tokens (referral_id, token)
    select id, linkage_token from written where linkage_token is not null
  ),
  message as (
    insert into inbox_messages (${message.columns})
    select ${message.values} from written input cross join lateral ${message.from}
  ),
  deadline as (
    insert into outbox (${deadline.columns})
    select ${deadline.values} from written input cross join lateral ${deadline.from}
  ),
  audit as (
    insert into audit_events (${audit.columns})
    select ${audit.values} from written input cross join lateral ${audit.from}
  ),
  delivery as (
    insert into deliveries (message_id, agency_id, referral_id)
    select m.id, agencies.id, m.referral_id
    from written input cross join lateral json_to_record(input.message) as m(id uuid, agency_id uuid, referral_id uuid)
    join agencies on agencies.id = m.agency_id and agencies.delivery_mode = 'push'
    returning message_id
  ),
  webhook as (
    insert into outbox (${webhook.columns})
    select ${webhook.values} from written input cross join lateral ${webhook.from}
    where (input.message->>'id')::uuid in (select message_id from delivery)
  )
  select gate.n, gate.refusal, s.id is not null as written,
    case when s.id is null or own.linkage_token is null then 0 else
      (select count(*) from (select from linkage_tokens l join referrals r on r.id = l.referral_id
        where l.token = own.linkage_token and l.referral_id <> s.id
          and s.sender_id in (r.sender_id, r.recipient_id) limit 1000) l)
      + (select count(*) from written earlier join submitted e on e.id = earlier.id
        where earlier.linkage_token = own.linkage_token and earlier.n < gate.n
          and s.sender_id in (e.sender_id, e.recipient_id))
    end as linked
  from gate join input own on own.n = gate.n left join submitted s on s.id = gate.id
`

interface Answer {
  n: number
  refusal: SubmissionRefusal | null
  written: boolean
  linked: string
}

let compiled: CompiledQuery<Answer> | undefined

/**
 * Writes the submissions in one statement (see STATEMENT); resolves, in their order, to how many
 * other referrals share each one's linkage token, or to the reason it was not written.
 */
async function writeSubmissions(
  db: Kysely<Database>,
  entries: readonly { rows: SubmissionRows; checks: SubmissionChecks }[],
): Promise<({ linked: number } | SubmissionRefused)[]> {
  compiled ??= prepared(sql<Answer>`${sql.raw(STATEMENT)}`.compile(db))
  const input = entries.map(({ rows, checks }, n) => {
    const { signingKey, lockKey, senderId, recipientId, recipientKind } = checks
    return {
      n,
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
      jws: rows.jws,
      linkage_token: rows.linkageToken,
      message: rows.inboxMessage,
      deadline: rows.deadline,
      webhook: rows.webhook,
      audit: rows.audit,
    }
  })
  const { rows } = await executePrepared<Answer>(db, { ...compiled, parameters: [JSON.stringify(input)] })
  const answers = new Map(rows.map((row) => [row.n, row]))
  return entries.map((_, n) => {
    const answer = answers.get(n)
    if (!answer) throw new Error(`the submission statement did not answer for submission ${n}`)
    if (answer.refusal !== null) return new SubmissionRefused(answer.refusal)
    if (!answer.written) return new SubmissionRefused('TRM_ID_TAKEN')
    return { linked: Number(answer.linked) }
  })
}

interface Pending {
  rows: SubmissionRows
  checks: SubmissionChecks
  /** The referral id as Postgres compares it (a uuid in any letter case). */
  id: string
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
 * Each submission gets its own answer: the statement refuses one without failing the others. Only
 * an error of the whole statement (a lost connection, a deadlock) fails them all; then each is
 * written again on its own, one after another in the same turn, and gets its own answer. A
 * submission the lost statement did commit then finds its id taken, which its caller answers as the
 * replay it is.
 */
export class SubmissionWriter {
  readonly #db: Kysely<Database>
  readonly #statementsInFlight: number
  readonly #maxBatch: number
  readonly #maxWaiting: number
  #waiting: Pending[] = []
  #inFlight = 0

  constructor(
    db: Kysely<Database>,
    options: { statementsInFlight: number; maxBatch?: number; maxWaiting?: number },
  ) {
    if (!(options.statementsInFlight >= 1)) throw new RangeError('statementsInFlight must be at least 1')
    this.#db = db
    this.#statementsInFlight = options.statementsInFlight
    this.#maxBatch = options.maxBatch ?? 64
    this.#maxWaiting = options.maxWaiting ?? Number.POSITIVE_INFINITY
  }

  /** Submissions waiting for a statement (not those in one). */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Writes one submission; resolves once it is committed, with how many other referrals carry its
   * linkage token, or rejects with {@link SubmissionRefused} when it was not written, or with
   * {@link SubmissionNotQueued} when the queue is full (at once) or `signal` aborted before its
   * statement started.
   */
  write(rows: SubmissionRows, checks: SubmissionChecks, signal?: AbortSignal): Promise<{ linked: number }> {
    // Load shedding: beyond the bound a submission would wait longer than its client will.
    if (this.#waiting.length >= this.#maxWaiting && this.#inFlight >= this.#statementsInFlight) {
      return Promise.reject(new SubmissionNotQueued('queue-full'))
    }
    if (signal?.aborted) return Promise.reject(new SubmissionNotQueued('client-gone'))
    return new Promise((resolve, reject) => {
      const pending: Pending = { rows, checks, id: rows.referral.id.toLowerCase(), resolve, reject }
      // A client that leaves while its submission waits frees its place at once.
      signal?.addEventListener('abort', () => this.#drop(pending), { once: true })
      this.#waiting.push(pending)
      this.#next()
    })
  }

  #drop(pending: Pending) {
    const at = this.#waiting.indexOf(pending)
    if (at === -1) return // already in a statement: it is written, and answers as a replay if retried
    this.#waiting.splice(at, 1)
    pending.reject(new SubmissionNotQueued('client-gone'))
  }

  #next() {
    while (this.#inFlight < this.#statementsInFlight && this.#waiting.length > 0) {
      const batch: Pending[] = []
      const ids = new Set<string>()
      const later: Pending[] = []
      for (const pending of this.#waiting) {
        // The statement tells its submissions apart by id: the same id twice waits its turn.
        if (batch.length < this.#maxBatch && !ids.has(pending.id)) {
          ids.add(pending.id)
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
      settle(batch, await writeSubmissions(this.#db, batch))
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error)
        return
      }
      for (const pending of batch) {
        try {
          settle([pending], await writeSubmissions(this.#db, [pending]))
        } catch (error) {
          pending.reject(error)
        }
      }
    }
  }
}

function settle(batch: Pending[], answers: ({ linked: number } | SubmissionRefused)[]) {
  batch.forEach((pending, n) => {
    const answer = answers[n]!
    if (answer instanceof SubmissionRefused) pending.reject(answer)
    else pending.resolve(answer)
  })
}
