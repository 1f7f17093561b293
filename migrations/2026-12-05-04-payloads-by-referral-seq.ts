import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// A referral's JWS is keyed by the referral's seq (the hub's own, in the order referrals are
// written), no longer by its id (the sender's, in random order). Keyed by id, each submission wrote
// a random leaf of the payloads' primary key: on a large database a page to read and, after each
// checkpoint, a full page image in the WAL. Keyed by seq, submissions append to its right edge.
// Lookups by id go through referrals (its primary key), which a reader of a payload joins anyway.
//
// The rows are copied, in seq order, into a table of the new shape, which replaces the old one
// (dropped: its files go at commit). Updating in place and rewriting would not do: a rewrite in the
// updating transaction keeps the old versions (the transaction has not ended, so they are not dead),
// leaving a second copy of every payload in the file. The new table keeps what the old one had:
// uncompressed payloads without planner statistics, its owner (trm_compact_payloads runs as that
// owner, and only a table's owner may rewrite it), the grants of the API and worker role, and the
// constraint's name, which trm_compact_payloads clusters on. Nothing may write the table meanwhile:
// it holds an exclusive lock on referral_payloads while it runs.
async function rekey(
  db: Kysely<any>,
  to: { column: 'referral_seq' | 'referral_id'; type: string; from: string },
) {
  await sql`lock table referral_payloads in access exclusive mode`.execute(db)
  await sql`create table referral_payloads_rekeyed (
    ${sql.ref(to.column)} ${sql.raw(to.type)} not null,
    jws text not null
  )`.execute(db)
  await sql`alter table referral_payloads_rekeyed alter column jws set storage external,
    alter column jws set statistics 0`.execute(db)
  const { rows: owners } = await sql<{ owner: string }>`select tableowner as owner from pg_tables
    where schemaname = current_schema() and tablename = 'referral_payloads'`.execute(db)
  await sql`alter table referral_payloads_rekeyed owner to ${sql.id(owners[0]!.owner)}`.execute(db)
  const { rows } = await sql<{ copied: string; held: string }>`with copied as (
      insert into referral_payloads_rekeyed (${sql.ref(to.column)}, jws)
      select ${sql.raw(to.from)}, p.jws from referral_payloads p join referrals r on ${sql.raw(
        to.column === 'referral_seq' ? 'r.id = p.referral_id' : 'r.seq = p.referral_seq',
      )}
      order by r.seq
      returning 1
    )
    select (select count(*) from copied) as copied, (select count(*) from referral_payloads) as held`.execute(
    db,
  )
  const { copied, held } = rows[0]!
  // A payload without its referral cannot be reached through it; the hub never wrote one.
  if (copied !== held) {
    throw new Error(
      `${Number(held) - Number(copied)} referral payload(s) have no referral: migration stopped, nothing changed`,
    )
  }
  await sql`drop table referral_payloads`.execute(db)
  await sql`alter table referral_payloads_rekeyed rename to referral_payloads`.execute(db)
  await sql`alter table referral_payloads add constraint referral_payloads_pkey
    primary key (${sql.ref(to.column)})`.execute(db)
  await sql`grant select, insert, update, delete on referral_payloads to trm_app`.execute(db)
}

export async function up(db: Kysely<any>): Promise<void> {
  await rekey(db, { column: 'referral_seq', type: 'bigint', from: 'r.seq' })
}

export async function down(db: Kysely<any>): Promise<void> {
  await rekey(db, { column: 'referral_id', type: 'uuid', from: 'r.id' })
}
