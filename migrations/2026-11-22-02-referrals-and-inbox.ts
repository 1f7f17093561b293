import { type Kysely, sql } from 'kysely'

// Frozen in time: imports nothing from src/.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('referrals')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // Hub-assigned order for paging; the id is chosen by the sender.
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('sender_id', 'uuid', (c) => c.notNull().references('agencies.id'))
    .addColumn('recipient_id', 'uuid', (c) => c.notNull().references('agencies.id'))
    .addColumn('sender_country', sql`char(2)`, (c) => c.notNull())
    .addColumn('recipient_country', sql`char(2)`, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('urgency', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('victim_reference', 'text', (c) => c.notNull())
    .addColumn('linkage_token', 'text')
    .addColumn('age_group', 'text', (c) => c.notNull())
    .addColumn('minor', 'boolean', (c) => c.notNull())
    .addColumn('gender', 'text', (c) => c.notNull())
    .addColumn('citizenship', sql`text[]`, (c) => c.notNull())
    .addColumn('exploitation_forms', sql`text[]`, (c) => c.notNull())
    .addColumn('exploitation_countries', sql`text[]`, (c) => c.notNull())
    .addColumn('identified_in', sql`char(2)`, (c) => c.notNull())
    .addColumn('needs', sql`text[]`, (c) => c.notNull())
    .addColumn('consent_status', 'text', (c) => c.notNull())
    .addColumn('has_sensitive', 'boolean', (c) => c.notNull())
    // The signed document exactly as received; null once erased or past retention.
    .addColumn('jws', 'text')
    .addColumn('payload_sha256', 'text', (c) => c.notNull())
    .addColumn('receipt', 'text', (c) => c.notNull())
    .addColumn('document_created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('submitted_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ack_due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz')
    .addColumn('escalated_at', 'timestamptz')
    .addColumn('terminal_at', 'timestamptz')
    .addColumn('erased_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.createIndex('referrals_sender').on('referrals').columns(['sender_id', 'seq']).execute()
  await db.schema
    .createIndex('referrals_recipient')
    .on('referrals')
    .columns(['recipient_id', 'seq'])
    .execute()
  await db.schema
    .createIndex('referrals_victim_reference')
    .on('referrals')
    .column('victim_reference')
    .execute()
  await db.schema
    .createIndex('referrals_linkage_token')
    .on('referrals')
    .column('linkage_token')
    .where(sql.ref('linkage_token'), 'is not', null)
    .execute()
  await db.schema.createIndex('referrals_submitted_at').on('referrals').column('submitted_at').execute()

  await db.schema
    .createTable('acknowledgements')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('referral_id', 'uuid', (c) => c.notNull().references('referrals.id'))
    .addColumn('author_id', 'uuid', (c) => c.notNull().references('agencies.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('outcome', 'text')
    .addColumn('from_status', 'text', (c) => c.notNull())
    .addColumn('to_status', 'text', (c) => c.notNull())
    .addColumn('jws', 'text')
    .addColumn('payload_sha256', 'text', (c) => c.notNull())
    .addColumn('receipt', 'text', (c) => c.notNull())
    .addColumn('submitted_at', 'timestamptz', (c) => c.notNull())
    .addColumn('erased_at', 'timestamptz')
    .execute()
  await db.schema
    .createIndex('acknowledgements_referral')
    .on('acknowledgements')
    .columns(['referral_id', 'seq'])
    .execute()

  // Per-agency inbox. seq is allocated from inbox_heads under that agency's row lock, so within one
  // agency the order of seq is the order of commit: a reader never skips a message committed late.
  await db.schema
    .createTable('inbox_heads')
    .addColumn('agency_id', 'uuid', (c) => c.primaryKey().references('agencies.id'))
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema
    .createTable('inbox_messages')
    .addColumn('agency_id', 'uuid', (c) => c.notNull().references('agencies.id'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('acknowledgement_id', 'uuid')
    .addColumn('jws', 'text')
    .addColumn('body', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('confirmed_at', 'timestamptz')
    .addPrimaryKeyConstraint('inbox_messages_pk', ['agency_id', 'seq'])
    .execute()
  await db.schema
    .createIndex('inbox_messages_unconfirmed')
    .on('inbox_messages')
    .columns(['agency_id', 'seq'])
    .where(sql.ref('confirmed_at'), 'is', null)
    .execute()
  await db.schema.createIndex('inbox_messages_referral').on('inbox_messages').column('referral_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['inbox_messages', 'inbox_heads', 'acknowledgements', 'referrals']) {
    await db.schema.dropTable(table).execute()
  }
}
