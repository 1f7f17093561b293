import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
//
// The audit log becomes append-only twice over: the application role `trm_app` holds no UPDATE on
// the audit columns other than the three the sealer fills in and no DELETE at all, and triggers refuse
// any change but sealing an unsealed event once, whoever asks. Only the table owner or a superuser can
// disable those triggers, and `trm audit verify` still detects what they then change.
export async function up(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = sql.id(rows[0]!.schema)

  // One signed statement { seq, hash, at } per sealed batch; seq is the last event of the batch.
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('jws', 'text', (c) => c.notNull())
    .execute()

  // Sealed means all three are set, and they are set together.
  await sql`alter table audit_events add constraint audit_events_sealed_together check (
    (seq is null and prev_hash is null and hash is null)
    or (seq is not null and prev_hash is not null and hash is not null))`.execute(db)

  await sql`create function audit_events_guard() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE'
        and old.seq is null and new.seq is not null
        and (new.id, new.at, new.actor, new.action, new.target_type, new.target_id, new.referral_id,
             new.request_id, new.outcome, new.details)
          is not distinct from
            (old.id, old.at, old.actor, old.action, old.target_type, old.target_id, old.referral_id,
             old.request_id, old.outcome, old.details)
      then
        return new;
      end if;
      raise exception 'audit_events is append-only: % refused (only sealing an unsealed event is allowed)', tg_op
        using errcode = 'integrity_constraint_violation';
    end $$`.execute(db)
  await sql`create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_guard()`.execute(db)

  await sql`create function audit_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % refused', tg_table_name, tg_op
        using errcode = 'integrity_constraint_violation';
    end $$`.execute(db)
  await sql`create trigger audit_checkpoints_append_only before update or delete on audit_checkpoints
    for each row execute function audit_refuse_change()`.execute(db)
  for (const table of ['audit_events', 'audit_checkpoints']) {
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.id(table)}
      for each statement execute function audit_refuse_change()`.execute(db)
  }

  // Roles are cluster-wide and several schemas (tests) may migrate at once: create it once, tolerate
  // the race (a concurrent creator surfaces as unique_violation rather than duplicate_object). An
  // owner role without CREATEROLE can migrate once an administrator has created trm_app.
  await sql`do $$ begin
      if not exists (select from pg_roles where rolname = 'trm_app') then
        create role trm_app nologin;
      end if;
    exception when duplicate_object or unique_violation then null;
    end $$`.execute(db)

  await sql`grant usage on schema ${schema} to trm_app`.execute(db)
  await sql`grant select, insert, update, delete on all tables in schema ${schema} to trm_app`.execute(db)
  await sql`grant usage, select on all sequences in schema ${schema} to trm_app`.execute(db)
  // Tables created by later migrations (run by the same owner role) get the same grants.
  await sql`alter default privileges in schema ${schema}
    grant select, insert, update, delete on tables to trm_app`.execute(db)
  await sql`alter default privileges in schema ${schema} grant usage, select on sequences to trm_app`.execute(
    db,
  )
  await sql`revoke all on audit_events, audit_checkpoints, kysely_migration, kysely_migration_lock
    from trm_app`.execute(db)
  await sql`grant select, insert on audit_events, audit_checkpoints to trm_app`.execute(db)
  await sql`grant update (seq, prev_hash, hash) on audit_events to trm_app`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = sql.id(rows[0]!.schema)
  await sql`alter default privileges in schema ${schema}
    revoke select, insert, update, delete on tables from trm_app`.execute(db)
  await sql`alter default privileges in schema ${schema} revoke usage, select on sequences from trm_app`.execute(
    db,
  )
  await sql`revoke all on all tables in schema ${schema} from trm_app`.execute(db)
  await sql`revoke all on all sequences in schema ${schema} from trm_app`.execute(db)
  await sql`revoke usage on schema ${schema} from trm_app`.execute(db)
  // The role itself stays: other schemas in the cluster may still grant to it.
  for (const table of ['audit_events', 'audit_checkpoints']) {
    await sql`drop trigger ${sql.id(`${table}_no_truncate`)} on ${sql.id(table)}`.execute(db)
  }
  await sql`drop trigger audit_checkpoints_append_only on audit_checkpoints`.execute(db)
  await sql`drop trigger audit_events_append_only on audit_events`.execute(db)
  await sql`drop function audit_refuse_change()`.execute(db)
  await sql`drop function audit_events_guard()`.execute(db)
  await sql`alter table audit_events drop constraint audit_events_sealed_together`.execute(db)
  await db.schema.dropTable('audit_checkpoints').execute()
}
