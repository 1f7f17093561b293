import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// Statistics are released once per calendar quarter and then frozen (issue 15): a release holds
// every table that can be asked for that quarter, already merged so that no count is below the
// threshold, and every answer is a view of it. A referral added, erased or changed later does not
// change a release. `release` numbers a quarter's releases; the hub makes one (number 1) and has no
// corrections. The application role may add and read releases, never change or delete one.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table stats_releases (
    period text not null check (period ~ '^[0-9]{4}-Q[1-4]$'),
    release smallint not null check (release >= 1),
    period_start timestamptz not null,
    period_end timestamptz not null,
    min_cell integer not null check (min_cell >= 1),
    referrals integer check (referrals >= min_cell),
    content jsonb not null,
    created_at timestamptz not null default now(),
    constraint stats_releases_pkey primary key (period, release)
  )`.execute(db)
  // trm_app and its default grants come from 2026-11-22-03-audit-seal.
  await sql`revoke update, delete, truncate on stats_releases from trm_app`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('stats_releases').execute()
}
