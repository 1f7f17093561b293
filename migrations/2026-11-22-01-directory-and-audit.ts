import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agencies')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('country', sql`char(2)`, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('national_contact_point', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('active').check(sql`status in ('active', 'suspended')`),
    )
    .addColumn('delivery_mode', 'text', (c) => c.notNull().check(sql`delivery_mode in ('pull', 'push')`))
    .addColumn('delivery_url', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('agencies_push_has_url', sql`delivery_mode = 'pull' or delivery_url is not null`)
    .execute()
  // At most one national contact point per country.
  await db.schema
    .createIndex('agencies_one_ncp_per_country')
    .on('agencies')
    .column('country')
    .unique()
    .where(sql.ref('national_contact_point'), '=', true)
    .execute()
  await db.schema.createIndex('agencies_country_kind').on('agencies').columns(['country', 'kind']).execute()

  await db.schema
    .createTable('agency_keys')
    .addColumn('agency_id', 'uuid', (c) => c.notNull().references('agencies.id'))
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('use', 'text', (c) => c.notNull().check(sql`use in ('sig', 'enc')`))
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('jwk', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('active').check(sql`status in ('active', 'revoked')`),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addPrimaryKeyConstraint('agency_keys_pk', ['agency_id', 'kid'])
    .execute()

  // Audit events are inserted unsealed by requests; the sealer assigns seq and the hash chain.
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.unique())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('referral_id', 'uuid')
    .addColumn('request_id', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('prev_hash', 'text')
    .addColumn('hash', 'text')
    .execute()
  await db.schema
    .createIndex('audit_events_unsealed')
    .on('audit_events')
    .column('id')
    .where(sql.ref('seq'), 'is', null)
    .execute()
  await db.schema
    .createIndex('audit_events_referral')
    .on('audit_events')
    .columns(['referral_id', 'id'])
    .execute()
  await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'id']).execute()

  // Work for BullMQ, written in the same transaction as the change that needs it (transactional outbox).
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('queue', 'text', (c) => c.notNull())
    .addColumn('job_name', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('run_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('relayed_at', 'timestamptz')
    .execute()
  await db.schema
    .createIndex('outbox_pending')
    .on('outbox')
    .column('created_at')
    .where(sql.ref('relayed_at'), 'is', null)
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['outbox', 'audit_events', 'agency_keys', 'agencies']) {
    await db.schema.dropTable(table).execute()
  }
}
