import { randomUUID } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { FileMigrationProvider, Migrator, sql } from 'kysely'
import t from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { MIGRATIONS_DIR } from '../../src/db/migrate.js'
import { testConfig } from '../helpers/env.js'

const BEFORE = '2026-12-03-10-stats-releases'

t.test(
  'the deadline sweep migration drops the unrelayed deadline jobs and indexes open referrals',
  async (t) => {
    const config = await testConfig()
    const schema = config.databaseSchema!
    const { db } = createDb(config, 'trm-test-migration')
    t.teardown(async () => {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db)
      await db.destroy()
    })
    await sql`create schema ${sql.id(schema)}`.execute(db)
    const migrator = new Migrator({
      db,
      provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
      migrationTableSchema: schema,
    })
    const to = await migrator.migrateTo(BEFORE)
    if (to.error) throw to.error

    // Outbox rows as earlier releases wrote them: a deadline job relayed (its job is in BullMQ), one not
    // yet relayed (the sweep covers its referral), and a webhook job not yet relayed.
    const rows = {
      relayedDeadline: { id: randomUUID(), queue: 'deadlines', relayed: true },
      pendingDeadline: { id: randomUUID(), queue: 'deadlines', relayed: false },
      pendingWebhook: { id: randomUUID(), queue: 'webhooks', relayed: false },
    }
    for (const row of Object.values(rows)) {
      await sql`insert into outbox (id, queue, job_name, payload, run_at, relayed_at)
      values (${row.id}, ${row.queue}, 'fictional', ${JSON.stringify({ referralId: randomUUID() })}::jsonb,
        now(), ${row.relayed ? sql`now()` : sql`null`})`.execute(db)
    }

    const latest = await migrator.migrateToLatest()
    if (latest.error) throw latest.error
    const left = await sql<{ id: string }>`select id from outbox`.execute(db)
    t.same(
      left.rows.map((row) => row.id).sort(),
      [rows.relayedDeadline.id, rows.pendingWebhook.id].sort(),
      'only the unrelayed deadline job is gone',
    )
    const index = await sql<{ indexdef: string }>`select indexdef from pg_indexes
    where schemaname = ${schema} and indexname = 'referrals_awaiting_receipt_due'`.execute(db)
    t.match(index.rows[0]?.indexdef, /\(ack_due_at\) WHERE .*escalated_at IS NULL.*received_at IS NULL/)
  },
)
