import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// The audit log becomes an RFC 9162 Merkle tree (issue 17) stored append-only (issue 18): the sealer
// no longer UPDATEs audit_events. It gives each event its leaf index once, by inserting a row into
// audit_leaves (index = seq − 1, with the leaf hash), writes each complete 256-wide hash tile once into
// audit_tiles, and one signed checkpoint note per batch into audit_tree_checkpoints. Witness
// cosignatures go to audit_cosignatures. The partial right edge of the tree is never stored: it is
// computed from audit_leaves and the roots of the complete tiles below it (audit_tiles.root, the hash
// of the tile's 256 entries: an entry of the tile one level up).
//
// Existing events become the first leaves, here: the ones the old sealer chained keep their seq (leaf
// index seq − 1, leaf hash SHA-256(0x00 ‖ JCS(event)) over the same canonical JSON the chain hashed);
// events not sealed yet are left to the sealer. The sealer's first run writes the tiles and the first
// signed checkpoint over them (signing needs the hub key, which migrations do not have). The old chain
// (seq, prev_hash, hash and audit_checkpoints) stays as history and is no longer written.
//
// audit_events.txid (the writing transaction, xid8) lets the sealer find unsealed events without
// scanning the whole table: every event of a transaction older than the last batch's horizon
// (pg_snapshot_xmin) was visible to that batch, and so is already a leaf.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events add column txid xid8 not null default pg_current_xact_id()`.execute(db)
  await sql`create index audit_events_txid on audit_events (txid)`.execute(db)
  // "seq is null" no longer means unsealed (new events keep seq null for good): the index would only grow.
  await sql`drop index audit_events_unsealed`.execute(db)

  await sql`create table audit_leaves (
      index bigint primary key check (index >= 0),
      event_id bigint not null unique,
      hash bytea not null check (octet_length(hash) = 32)
    )`.execute(db)
  await sql`create table audit_tiles (
      level smallint not null check (level >= 0),
      index bigint not null check (index >= 0),
      hashes bytea not null check (octet_length(hashes) = 8192),
      root bytea not null check (octet_length(root) = 32),
      primary key (level, index)
    )`.execute(db)
  await sql`create table audit_tree_checkpoints (
      size bigint primary key check (size > 0),
      root bytea not null check (octet_length(root) = 32),
      note text not null,
      at timestamptz not null,
      horizon xid8
    )`.execute(db)
  await sql`create table audit_cosignatures (
      size bigint not null references audit_tree_checkpoints (size),
      witness text not null,
      line text not null,
      time bigint not null,
      received_at timestamptz not null default now(),
      primary key (size, witness)
    )`.execute(db)

  await backfillLeaves(db)

  // Nobody changes an event any more, not even the sealer.
  await sql`drop trigger audit_events_append_only on audit_events`.execute(db)
  await sql`create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_refuse_change()`.execute(db)
  await sql`revoke update on audit_events from trm_app`.execute(db)
  await sql`revoke update (seq, prev_hash, hash) on audit_events from trm_app`.execute(db)

  const tables = ['audit_leaves', 'audit_tiles', 'audit_tree_checkpoints', 'audit_cosignatures']
  for (const table of tables) {
    await sql`create trigger ${sql.id(`${table}_append_only`)} before update or delete on ${sql.id(table)}
      for each row execute function audit_refuse_change()`.execute(db)
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.id(table)}
      for each statement execute function audit_refuse_change()`.execute(db)
    await sql`revoke all on ${sql.id(table)} from trm_app`.execute(db)
    await sql`grant select, insert on ${sql.id(table)} to trm_app`.execute(db)
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['audit_cosignatures', 'audit_tree_checkpoints', 'audit_tiles', 'audit_leaves']) {
    await sql`drop table ${sql.id(table)}`.execute(db)
  }
  await sql`drop trigger audit_events_append_only on audit_events`.execute(db)
  await sql`create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_guard()`.execute(db)
  await sql`grant update (seq, prev_hash, hash) on audit_events to trm_app`.execute(db)
  await sql`drop index audit_events_txid`.execute(db)
  await sql`create index audit_events_unsealed on audit_events (id) where seq is null`.execute(db)
  await sql`alter table audit_events drop column txid`.execute(db)
}

/** The chained events, in seq order, as leaves: the same bytes the chain hashed (audit.core.ts today). */
async function backfillLeaves(db: Kysely<any>): Promise<void> {
  for (let after = 0; ; ) {
    const { rows } = await sql<{
      id: string
      seq: string
      at: string
      actor: string
      action: string
      target_type: string
      target_id: string
      referral_id: string | null
      request_id: string | null
      outcome: string
      details: Record<string, unknown>
    }>`select id::text, seq::text,
        to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
        actor, action, target_type, target_id, referral_id, request_id, outcome, details
      from audit_events where seq > ${after} order by audit_events.seq limit 2000`.execute(db)
    if (rows.length === 0) return
    const values = rows.map((r) => {
      const text = canonicalize({
        seq: Number(r.seq),
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: { type: r.target_type, id: r.target_id },
        referralId: r.referral_id,
        requestId: r.request_id,
        outcome: r.outcome,
        details: r.details,
      })
      const hash = createHash('sha256')
        .update(Buffer.from([0]))
        .update(text ?? '', 'utf8')
        .digest()
      return sql`(${Number(r.seq) - 1}::bigint, ${r.id}::bigint, ${hash}::bytea)`
    })
    await sql`insert into audit_leaves (index, event_id, hash) values ${sql.join(values)}`.execute(db)
    after = Number(rows.at(-1)!.seq)
  }
}
