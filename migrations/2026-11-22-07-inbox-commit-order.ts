import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Inbox order without a per-recipient lock: every message records the id of the transaction that
// wrote it (xid8), and readers list only messages whose transaction id is below the oldest one still
// running (pg_snapshot_xmin). Below that horizon the set is final, so ordering by (txid, seq) never
// lets a reader step past a message that commits later.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create sequence inbox_messages_seq`.execute(db)
  await sql`select setval('inbox_messages_seq', greatest((select coalesce(max(seq), 0) from inbox_messages), 1))`.execute(
    db,
  )
  await sql`alter table inbox_messages alter column seq set default nextval('inbox_messages_seq')`.execute(db)
  await sql`alter table inbox_messages add column txid xid8 not null default pg_current_xact_id()`.execute(db)
  await sql`create index inbox_messages_agency_order on inbox_messages (agency_id, txid, seq)`.execute(db)
  await sql`drop index inbox_messages_unconfirmed`.execute(db)
  await sql`create index inbox_messages_unconfirmed on inbox_messages (agency_id, txid, seq) where confirmed_at is null`.execute(
    db,
  )
  await sql`drop table inbox_heads`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create table inbox_heads (agency_id uuid primary key references agencies (id), last_seq bigint not null default 0)`.execute(
    db,
  )
  await sql`drop index inbox_messages_agency_order`.execute(db)
  await sql`alter table inbox_messages drop column txid`.execute(db)
  await sql`alter table inbox_messages alter column seq drop default`.execute(db)
  await sql`drop sequence inbox_messages_seq`.execute(db)
}
