import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-03-10-stats-releases'

t.test(
  'the deadline sweep migration drops the unrelayed deadline jobs and indexes open referrals',
  async (t) => {
    const { schema, db, migrator } = await migratedUpTo(t, BEFORE)

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
