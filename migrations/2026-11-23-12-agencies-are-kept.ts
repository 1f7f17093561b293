import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// The foreign keys from referrals, inbox messages and deliveries to agencies are replaced by a rule
// on agencies themselves: a row is never deleted and its id never changes (suspension is how an
// agency leaves). A foreign key check locks the referenced row FOR KEY SHARE in every writing
// transaction, and every referral to one national contact point locks the same row; concurrent
// writers then share that lock through a MultiXact, which cost Postgres about a fifth of its CPU
// per referral in bench/referrals.ts. With the rule, an agency id written once stays valid, and the
// statements that write these rows take their agency ids from the directory in the same statement
// (the referral's checks) or from a stored referral. acknowledgements keep their foreign keys: an
// acknowledgement is rare and names its referral, which is what a mistake would break.
const REFERENCES = [
  { table: 'referrals', column: 'sender_id' },
  { table: 'referrals', column: 'recipient_id' },
  { table: 'inbox_messages', column: 'agency_id' },
  { table: 'deliveries', column: 'agency_id' },
] as const

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function agencies_keep() returns trigger language plpgsql as $$
    begin
      raise exception 'agencies are never deleted and keep their id: suspend the agency instead'
        using errcode = 'restrict_violation';
    end $$`.execute(db)
  await sql`create trigger agencies_never_deleted before delete or update of id on agencies
    for each row execute function agencies_keep()`.execute(db)
  await sql`create trigger agencies_no_truncate before truncate on agencies
    for each statement execute function agencies_keep()`.execute(db)
  await sql`revoke delete, truncate on agencies from trm_app`.execute(db)
  for (const { table, column } of REFERENCES) {
    await sql`alter table ${sql.table(table)} drop constraint ${sql.id(`${table}_${column}_fkey`)}`.execute(
      db,
    )
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const { table, column } of REFERENCES) {
    await sql`alter table ${sql.table(table)} add constraint ${sql.id(`${table}_${column}_fkey`)}
      foreign key (${sql.ref(column)}) references agencies (id)`.execute(db)
  }
  await sql`grant delete on agencies to trm_app`.execute(db)
  await sql`drop trigger agencies_no_truncate on agencies`.execute(db)
  await sql`drop trigger agencies_never_deleted on agencies`.execute(db)
  await sql`drop function agencies_keep()`.execute(db)
}
