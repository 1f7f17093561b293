// Stored referrals in bulk, for the benchmarks on a full database (bench/seed.ts, bench/referrals.ts
// --seed): set-based INSERTs, one statement per batch, that write what a hub stores for a referral
// submitted and then acknowledged as received:
//
// - referrals (status received), referral_payloads (a JWS-sized placeholder);
// - acknowledgements (received) and acknowledgement_payloads;
// - inbox_messages: the referral in its recipient's inbox, the acknowledgement in its sender's, both
//   confirmed (no agency has anything waiting);
// - outbox: the referral's deadline job, relayed (it was answered in time, so no escalation is due);
// - audit_events: referral.submitted and acknowledgement.submitted, sealed: the hash chain is
//   computed in the statement (a running SHA-256 aggregate over each event's RFC 8785 form, the
//   sealer's chain of src/modules/audit/audit.core.ts), so the seeded events verify with `trm audit
//   verify` once the hub's sealer has signed a checkpoint after them.
//
// Everything is invented and obviously fake (placeholder JWS and receipts, random references). The
// columns written are checked against the migrated schema first: a migration that adds a required
// column or drops one written here stops the seed with the list, instead of seeding something the
// hub would not have stored.
import type pg from 'pg'

export interface SeedAgency {
  id: string
  country: string
}

/** The agencies a seed spreads its referrals over, registered by the caller (`trm agencies add`). */
export const SEED_AGENCIES = {
  senders: ['RO', 'BG', 'RO', 'BG', 'RO', 'MD'].map((country, i) => ({
    name: `Seed NGO ${i + 1} (fictional)`,
    country,
  })),
  /** National contact points: referrals go to them. */
  recipients: ['DE', 'IT', 'AT', 'ES', 'FR', 'NL'].map((country) => ({
    name: `Seed NCP ${country} (fictional)`,
    country,
  })),
}

/** The columns each statement writes; every other column must have a default or allow null. */
const WRITTEN: Record<string, string[]> = {
  referrals: [
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
    'received_at',
    'updated_at',
  ],
  referral_payloads: ['referral_seq', 'jws'],
  acknowledgements: [
    'id',
    'referral_id',
    'author_id',
    'type',
    'from_status',
    'to_status',
    'payload_sha256',
    'receipt',
    'submitted_at',
  ],
  acknowledgement_payloads: ['referral_id', 'acknowledgement_id', 'jws'],
  inbox_messages: [
    'id',
    'agency_id',
    'type',
    'referral_id',
    'acknowledgement_id',
    'created_at',
    'confirmed_at',
  ],
  outbox: ['id', 'queue', 'job_name', 'payload', 'run_at', 'created_at', 'relayed_at'],
  audit_events: [
    'seq',
    'at',
    'actor',
    'action',
    'target_type',
    'target_id',
    'referral_id',
    'request_id',
    'outcome',
    'details',
    'prev_hash',
    'hash',
  ],
}

/** What the schema lacks for the seed, or requires that it does not write; empty when they agree. */
export async function schemaMismatches(client: pg.ClientBase, schema: string): Promise<string[]> {
  const { rows } = await client.query<{
    table_name: string
    column_name: string
    required: boolean
  }>(
    `select table_name, column_name, is_nullable = 'NO' and column_default is null and is_identity = 'NO'
       and is_generated = 'NEVER' as required
     from information_schema.columns where table_schema = $1 and table_name = any($2)`,
    [schema, Object.keys(WRITTEN)],
  )
  const problems: string[] = []
  for (const [table, columns] of Object.entries(WRITTEN)) {
    const present = rows.filter((r) => r.table_name === table)
    if (present.length === 0) {
      problems.push(`table ${table} is missing`)
      continue
    }
    for (const column of columns)
      if (!present.some((r) => r.column_name === column)) problems.push(`${table}.${column} is missing`)
    for (const r of present)
      if (r.required && !columns.includes(r.column_name))
        problems.push(`${table}.${r.column_name} is required (not null, no default) and not written`)
  }
  return problems
}

const CHAIN_FUNCTIONS = `
  create or replace function pg_temp.trm_bench_chain_step(state text, head text, canonical text) returns text
  language sql immutable as $$ select encode(sha256(convert_to(coalesce(state, head) || canonical, 'UTF8')), 'hex') $$;
  create or replace aggregate pg_temp.trm_bench_chain(text, text) (sfunc = pg_temp.trm_bench_chain_step, stype = text);
`

const pick = (values: string[], weight = 'random()') =>
  `(array[${values.map((v) => `'${v}'`).join(', ')}])[1 + floor(${values.length} * ${weight})::int]`
const base64url = (bytes: string) => `rtrim(translate(encode(${bytes}, 'base64'), '+/', '-_'), '=')`
/**
 * A JWS-shaped placeholder (three base64url parts, the header a real one's) whose payload and
 * signature are hex digests: the shape and length of what is stored, obviously not a document.
 */
const HEADERS = {
  referral: 'eyJhbGciOiJFUzI1NiIsInR5cCI6InRybS1yZWZlcnJhbCtqc29uIiwia2lkIjoiYmVuY2gtc2VlZCJ9',
  acknowledgement: 'eyJhbGciOiJFUzI1NiIsInR5cCI6InRybS1hY2sranNvbiIsImtpZCI6ImJlbmNoLXNlZWQifQ',
  receipt: 'eyJhbGciOiJFZERTQSIsInR5cCI6InRybS1yZWNlaXB0K2pzb24iLCJraWQiOiJiZW5jaC1zZWVkIn0',
}
const fakeJws = (header: keyof typeof HEADERS, seed: string, payloadDigests: number) =>
  `'${HEADERS[header]}.' || repeat(md5(${seed}), ${payloadDigests}) || '.' || substr(repeat(md5(${seed} || 's'), 2), 1, 86)`
/** The audit event's `at` exactly as the sealer hashes it (src/modules/audit/audit.repository.ts). */
const AT_TEXT = `to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/**
 * One batch: referrals $1..$2 of $3, submitted over the $5 seconds before $4 (in order), from the
 * senders $6 (countries $7) to the recipients $8 ($9); audit events chained after seq $10, hash $11.
 */
const BATCH = `
  with picks as materialized (
    select g,
      1 + floor(random() * cardinality($6::uuid[]))::int as s,
      1 + floor(random() * cardinality($8::uuid[]))::int as r,
      $4::timestamptz - ($3::int - g + random()) * ($5::float8 / $3::int) * interval '1 second' as at,
      ${pick(['21-23', '18-20', '24-26', '27-29', '30-38', '9-17', '39-47', '48+', '0-8', 'unknown'], 'power(random(), 1.5)')} as age_group,
      ${pick(['urgent', 'urgent', 'urgent', 'urgent', 'urgent', 'urgent', 'routine', 'routine', 'routine', 'immediate'])} as requested,
      ${pick(['female', 'female', 'female', 'male', 'male', 'other', 'unknown'])} as gender,
      ${pick(['sexual_exploitation', 'forced_labour', 'forced_begging', 'forced_criminality', 'forced_marriage', 'other'], 'power(random(), 2)')} as form,
      random() as answered
    from generate_series($1::int, $2::int) g
  ),
  shaped as (
    select p.*, age_group in ('0-8', '9-17') as minor,
      case when age_group in ('0-8', '9-17') and requested = 'routine' then 'urgent' else requested end as urgency
    from picks p
  ),
  r as (
    insert into referrals (${WRITTEN['referrals']!.join(', ')})
    select gen_random_uuid(), ($6::uuid[])[s], ($8::uuid[])[r], ($7::text[])[s], ($9::text[])[r], 'received',
      urgency, 'first_assistance', 'V-' || upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 26)),
      age_group, minor, gender, array[($7::text[])[s]], array[form], array[($9::text[])[r]], ($9::text[])[r],
      array['accommodation', 'psychological'], case when minor then 'not_obtainable' else 'given' end, false,
      ${base64url('sha256(uuid_send(gen_random_uuid()))')}, ${fakeJws('receipt', 'g::text', 6)},
      at - interval '2 minutes', at,
      at + case urgency when 'immediate' then interval '4 hours' when 'urgent' then interval '24 hours'
        else interval '72 hours' end,
      at + answered * interval '3 hours', at + answered * interval '3 hours'
    from shaped
    returning id, seq, sender_id, recipient_id, urgency, payload_sha256, submitted_at, ack_due_at, received_at
  ),
  payload as (
    insert into referral_payloads (referral_seq, jws)
    select seq, ${fakeJws('referral', 'id::text', 40)} from r
  ),
  a as (
    insert into acknowledgements (${WRITTEN['acknowledgements']!.join(', ')})
    select trm_uuid_v7(), id, recipient_id, 'received', 'delivered', 'received',
      ${base64url('sha256(uuid_send(id))')}, ${fakeJws('receipt', 'id::text', 6)}, received_at
    from r
    returning id, referral_id, author_id, payload_sha256, submitted_at
  ),
  ack_payload as (
    insert into acknowledgement_payloads (referral_id, acknowledgement_id, jws)
    select referral_id, id, ${fakeJws('acknowledgement', 'id::text', 8)} from a
  ),
  message as (
    insert into inbox_messages (${WRITTEN['inbox_messages']!.join(', ')})
    select trm_uuid_v7(), recipient_id, 'referral', id, null::uuid, submitted_at, submitted_at + interval '1 minute'
    from r
    union all
    select trm_uuid_v7(), r.sender_id, 'acknowledgement', a.referral_id, a.id, a.submitted_at,
      a.submitted_at + interval '1 minute'
    from a join r on r.id = a.referral_id
  ),
  deadline as (
    insert into outbox (${WRITTEN['outbox']!.join(', ')})
    select trm_uuid_v7(), 'deadlines', 'ack-deadline', jsonb_build_object('referralId', id), ack_due_at,
      submitted_at, submitted_at
    from r
  ),
  events as (
    select submitted_at as at, 0 as k, id as referral_id, sender_id::text as actor,
      'referral.submitted' as action, 'referral' as target_type, id::text as target_id,
      format('{"payloadSha256":%s,"recipient":%s,"urgency":%s}', to_json(payload_sha256),
        to_json(recipient_id::text), to_json(urgency)) as details
    from r
    union all
    select submitted_at, 1, referral_id, author_id::text, 'acknowledgement.submitted', 'acknowledgement', id::text,
      format('{"from":"delivered","payloadSha256":%s,"to":"received","type":"received"}', to_json(payload_sha256))
    from a
  ),
  numbered as (
    select e.*, $10::bigint + row_number() over (order by at, referral_id, k) as seq, ${AT_TEXT} as at_text
    from events e
  ),
  chained as (
    select n.*, pg_temp.trm_bench_chain($11::text, format(
        '{"action":%s,"actor":%s,"at":%s,"details":%s,"outcome":"success","referralId":%s,"requestId":null,'
          || '"seq":%s,"target":{"id":%s,"type":%s}}',
        to_json(action), to_json(actor), to_json(at_text), details, to_json(referral_id::text), seq,
        to_json(target_id), to_json(target_type)))
      over (order by seq rows between unbounded preceding and current row) as hash
    from numbered n
  ),
  sealed as (
    insert into audit_events (${WRITTEN['audit_events']!.join(', ')})
    select seq, at, actor, action, target_type, target_id, referral_id, null, 'success', details::jsonb,
      coalesce(lag(hash) over (order by seq), $11::text), hash
    from chained
    returning seq
  )
  select (select count(*) from r)::int as referrals, (select count(*) from sealed)::int as events
`

export interface SeedOptions {
  /** The schema to fill (migrated, with the agencies registered). */
  schema: string
  count: number
  /** Referrals per statement (and transaction). */
  batch?: number
  senders: SeedAgency[]
  recipients: SeedAgency[]
  /** Submission times spread over this many days before `end` (default: a year before now). */
  days?: number
  end?: Date
  onProgress?: (done: number, seconds: number) => void
}

/**
 * Seeds `count` referrals (see the top of this file) on `client`, a connection of its own (it sets
 * the session's search_path and creates two temporary functions). Each batch takes the sealer's
 * lock, so a running worker neither interleaves its seals nor sees half a batch. Ends with VACUUM
 * ANALYZE of the tables written, as autovacuum would in time: a fresh bulk load has neither planner
 * statistics nor a visibility map. Resolves to the seconds it took.
 */
export async function seedReferrals(client: pg.ClientBase, options: SeedOptions): Promise<number> {
  const started = performance.now()
  const problems = await schemaMismatches(client, options.schema)
  if (problems.length > 0)
    throw new Error(`the schema differs from what bench/lib/seed.ts writes: ${problems.join('; ')}`)
  if (options.senders.length === 0 || options.recipients.length === 0)
    throw new Error('seeding needs at least one sender and one recipient')
  await client.query(`set search_path to ${client.escapeIdentifier(options.schema)}`)
  await client.query(CHAIN_FUNCTIONS)
  const batch = options.batch ?? 25_000
  const end = options.end ?? new Date()
  const spanSeconds = (options.days ?? 365) * 86_400
  for (let from = 1; from <= options.count; from += batch) {
    const to = Math.min(options.count, from + batch - 1)
    await client.query('begin')
    try {
      await client.query('set local synchronous_commit = off')
      await client.query(
        `select pg_advisory_xact_lock(hashtextextended('trm-audit-seal:' || current_schema(), 0))`,
      )
      const head = await client.query<{ seq: string; hash: string }>(
        'select seq, hash from audit_events where seq is not null order by seq desc limit 1',
      )
      await client.query(BATCH, [
        from,
        to,
        options.count,
        end,
        spanSeconds,
        options.senders.map((a) => a.id),
        options.senders.map((a) => a.country),
        options.recipients.map((a) => a.id),
        options.recipients.map((a) => a.country),
        head.rows[0]?.seq ?? 0,
        head.rows[0]?.hash ?? '0'.repeat(64),
      ])
      await client.query('commit')
    } catch (error) {
      await client.query('rollback').catch(() => {})
      throw error
    }
    options.onProgress?.(to, (performance.now() - started) / 1000)
  }
  for (const table of Object.keys(WRITTEN))
    await client.query(`vacuum analyze ${client.escapeIdentifier(table)}`)
  return (performance.now() - started) / 1000
}
