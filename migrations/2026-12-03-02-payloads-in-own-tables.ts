import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// What erasure removes lives in tables of its own, so that removing it for good means rewriting
// those small tables and never the hot ones. Deleting a row leaves its bytes in the table and index
// files (freed space is not overwritten, and VACUUM only marks it free); only a rewrite (VACUUM FULL,
// CLUSTER) writes new files without them. So:
//
// - referral_payloads: a referral's JWS (with the `sensitive` JWE inside), one row per referral;
// - acknowledgement_payloads: an acknowledgement's JWS;
// - linkage_tokens: a referral's linkage token, with the index that finds the others carrying it.
//
// referrals, acknowledgements and inbox_messages keep the skeleton only, and are rewritten here once
// (CLUSTER) so that the dropped columns' bytes leave their files too. An inbox message shows its
// referral's or acknowledgement's JWS through a join; it never holds a copy.
//
// trm_compact_payloads(table) rewrites one payload table (CLUSTER) once every erasure recorded in
// compaction_due is invisible to every snapshot that still exists; until then a rewrite would copy
// the erased rows along as "recently dead". The API and worker role owns nothing and may not
// rewrite a table, so the function runs as its owner (SECURITY DEFINER) and rewrites nothing but the
// three payload tables. CLUSTER rather than VACUUM FULL: VACUUM cannot run inside a function.
//
// Payload columns are stored uncompressed (a compressed leftover would be no less there, only harder
// to find) and have no planner statistics: ANALYZE would otherwise copy sampled tokens and JWS into
// pg_statistic, a catalog the hub cannot rewrite.
const PAYLOAD_TABLES = ['referral_payloads', 'acknowledgement_payloads', 'linkage_tokens'] as const
const HOT_TABLES = [
  { table: 'referrals', index: 'referrals_seq_key' },
  { table: 'acknowledgements', index: 'acknowledgements_seq_key' },
  { table: 'inbox_messages', index: 'inbox_messages_pk' },
] as const

export async function up(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]!.schema

  // No foreign key to referrals: the row is written by the statement that writes its referral, and
  // a key check would lock the new referral row on the hottest path (see 2026-11-23-12).
  await sql`create table referral_payloads (
    referral_id uuid constraint referral_payloads_pkey primary key,
    jws text not null
  )`.execute(db)
  await sql`create table acknowledgement_payloads (
    referral_id uuid not null,
    acknowledgement_id uuid not null references acknowledgements (id),
    jws text not null,
    constraint acknowledgement_payloads_pkey primary key (referral_id, acknowledgement_id)
  )`.execute(db)
  await sql`create table linkage_tokens (
    referral_id uuid constraint linkage_tokens_pkey primary key,
    token text not null
  )`.execute(db)
  await sql`create index linkage_tokens_token on linkage_tokens (token) include (referral_id)`.execute(db)
  for (const [table, column] of [
    ['referral_payloads', 'jws'],
    ['acknowledgement_payloads', 'jws'],
    ['linkage_tokens', 'token'],
  ] as const) {
    await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} set storage external,
      alter column ${sql.ref(column)} set statistics 0`.execute(db)
  }

  // Payload tables holding erased rows not yet rewritten away: one row per table, coalescing erasures.
  // last_xid is the newest erasing transaction, which every snapshot must see before the rewrite.
  await sql`create table compaction_due (
    table_name text primary key check (table_name in ('referral_payloads', 'acknowledgement_payloads', 'linkage_tokens')),
    erasures integer not null,
    since timestamptz not null default now(),
    last_xid xid8 not null
  )`.execute(db)

  await sql`insert into referral_payloads (referral_id, jws)
    select id, jws from referrals where jws is not null`.execute(db)
  await sql`insert into linkage_tokens (referral_id, token)
    select id, linkage_token from referrals where linkage_token is not null`.execute(db)
  await sql`insert into acknowledgement_payloads (referral_id, acknowledgement_id, jws)
    select referral_id, id, jws from acknowledgements where jws is not null`.execute(db)
  // An inbox message's JWS is a copy of its referral's or acknowledgement's; a copy of anything else
  // would be lost with the column, so the migration stops instead.
  const { rows: orphans } = await sql<{ n: string }>`select count(*) as n from inbox_messages m
    where m.jws is not null
      and not exists (select from referral_payloads p where m.type = 'referral' and p.referral_id = m.referral_id and p.jws = m.jws)
      and not exists (select from acknowledgement_payloads p where m.type = 'acknowledgement'
        and p.referral_id = m.referral_id and p.acknowledgement_id = m.acknowledgement_id and p.jws = m.jws)`.execute(
    db,
  )
  if (Number(orphans[0]!.n) > 0) {
    throw new Error(
      `${orphans[0]!.n} inbox message(s) hold a JWS that is neither their referral's nor their acknowledgement's`,
    )
  }

  await sql`drop index referrals_linkage_token`.execute(db)
  await sql`alter table referrals drop column jws, drop column linkage_token`.execute(db)
  await sql`alter table acknowledgements drop column jws`.execute(db)
  await sql`alter table inbox_messages drop column jws`.execute(db)
  // Dropped columns stay in the rows until they are rewritten. CLUSTER (which, unlike VACUUM FULL,
  // runs inside the migration's transaction) writes new files without them, in insertion order.
  for (const { table, index } of HOT_TABLES) {
    await sql`cluster ${sql.table(table)} using ${sql.id(index)}`.execute(db)
    await sql`alter table ${sql.table(table)} set without cluster`.execute(db)
  }

  await sql`create function trm_compact_payloads(target text, out outcome text, out erasures integer)
    language plpgsql security definer set search_path = ${sql.id(schema)}, pg_temp as $$
    declare
      due record;
      held boolean;
    begin
      if target is null or target not in ('referral_payloads', 'acknowledgement_payloads', 'linkage_tokens') then
        raise exception 'trm_compact_payloads: % is not a payload table', target
          using errcode = 'invalid_parameter_value';
      end if;
      -- Callers lock it in a statement of their own first, so this statement's snapshot is younger
      -- than every erasure of the table; locking again here is then free.
      execute format('lock table %I in access exclusive mode', target);
      select d.erasures, d.last_xid into due from compaction_due d where d.table_name = target for update;
      if not found then
        outcome := 'nothing';
        erasures := 0;
        return;
      end if;
      erasures := due.erasures;
      -- A snapshot that may not see the last erasure (this session's included), a transaction older
      -- than it, a replication slot or a standby's feedback holding the horizon back, or a deferred
      -- cleanup: CLUSTER would keep the erased rows as recently dead. Wait for another run.
      held := exists (select from pg_stat_activity a
          where (a.datid is null or a.datid = (select oid from pg_database where datname = current_database()))
            and greatest(age(a.backend_xmin), age(a.backend_xid)) >= age(due.last_xid::xid))
        or exists (select from pg_replication_slots s where age(s.xmin) >= age(due.last_xid::xid))
        or exists (select from pg_prepared_xacts p where age(p.transaction) >= age(due.last_xid::xid))
        or coalesce(current_setting('vacuum_defer_cleanup_age', true)::bigint, 0) >= age(due.last_xid::xid);
      if held then
        outcome := 'held';
        return;
      end if;
      execute format('cluster %I using %I', target, target || '_pkey');
      delete from compaction_due where table_name = target;
      outcome := 'compacted';
    end $$`.execute(db)
  await sql`revoke all on function trm_compact_payloads(text) from public`.execute(db)
  await sql`grant execute on function trm_compact_payloads(text) to trm_app`.execute(db)
  for (const table of [...PAYLOAD_TABLES, 'compaction_due']) {
    await sql`grant select, insert, update, delete on ${sql.table(table)} to trm_app`.execute(db)
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function trm_compact_payloads(text)`.execute(db)
  await sql`alter table inbox_messages add column jws text`.execute(db)
  await sql`alter table acknowledgements add column jws text`.execute(db)
  await sql`alter table referrals add column jws text, add column linkage_token text`.execute(db)
  await sql`update referrals r set jws = p.jws from referral_payloads p where p.referral_id = r.id`.execute(
    db,
  )
  await sql`update referrals r set linkage_token = l.token from linkage_tokens l where l.referral_id = r.id`.execute(
    db,
  )
  await sql`update acknowledgements a set jws = p.jws from acknowledgement_payloads p
    where p.acknowledgement_id = a.id`.execute(db)
  // The acknowledgement messages of before carried a copy; referral messages showed the referral's.
  await sql`update inbox_messages m set jws = a.jws from acknowledgements a
    where m.type = 'acknowledgement' and a.id = m.acknowledgement_id and a.jws is not null`.execute(db)
  await sql`create index referrals_linkage_token on referrals (linkage_token) where linkage_token is not null`.execute(
    db,
  )
  for (const table of ['compaction_due', 'linkage_tokens', 'acknowledgement_payloads', 'referral_payloads']) {
    await sql`drop table ${sql.table(table)}`.execute(db)
  }
}
