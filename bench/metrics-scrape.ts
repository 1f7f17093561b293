// The backlog gauges' read (src/modules/metrics/metrics.repository.ts) against a large, invented
// hub: 200 agencies, 390,000 inbox messages (90,000 unconfirmed, 30,000 each for three agencies),
// 200,000 webhook deliveries, 250,000 outbox rows (50,000 unrelayed), 550,000 audit events (50,000
// unsealed). Rows are written straight in SQL (triggers off), vacuumed, then the read runs 15 times.
// In its own schema of the services' Postgres, dropped afterwards.
//
//   npx tsx bench/metrics-scrape.ts
import { sql } from 'kysely'
import { createDb } from '../src/db/create-db.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { readHubState } from '../src/modules/metrics/metrics.repository.js'
import { testConfig, uniqueName } from '../test/helpers/env.js'

const schema = uniqueName('bench_metrics')
const config = await testConfig({ DATABASE_SCHEMA: schema })
const { db } = createDb(config, 'trm-bench-metrics')
try {
  const migrated = await migrateToLatest(db, schema)
  if (migrated.error) throw migrated.error
  await db.transaction().execute(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx)
    await sql`insert into agencies (id, name, country, kind, delivery_mode, delivery_url, created_at, updated_at)
      select gen_random_uuid(), 'Agency ' || i || ' (fictional)', 'RO',
        (array['ngo', 'national_agency', 'law_enforcement', 'social_services'])[1 + i % 4],
        case when i % 2 = 0 then 'push' else 'pull' end,
        case when i % 2 = 0 then 'https://hooks.example.test/' || i end, now(), now()
      from generate_series(1, 200) i`.execute(trx)
    await sql`insert into inbox_messages (agency_id, id, type, referral_id, created_at, confirmed_at)
      select a.id, gen_random_uuid(), 'referral', gen_random_uuid(), now() - interval '1 hour', null
      from (select id from agencies order by id limit 3) a, generate_series(1, 30000)`.execute(trx)
    await sql`insert into inbox_messages (agency_id, id, type, referral_id, created_at, confirmed_at)
      select a.id, gen_random_uuid(), 'referral', gen_random_uuid(), now() - interval '2 days', now()
      from agencies a, generate_series(1, 1500)`.execute(trx)
    await sql`insert into deliveries (message_id, agency_id, referral_id, status, created_at)
      select gen_random_uuid(), a.id, gen_random_uuid(),
        (array['delivered', 'delivered', 'delivered', 'pending', 'failed'])[1 + g % 5], now() - interval '10 minutes'
      from (select id from agencies where delivery_mode = 'push') a, generate_series(1, 2000) g`.execute(trx)
    await sql`insert into outbox (id, queue, job_name, payload, created_at, relayed_at)
      select gen_random_uuid(), (array['webhooks', 'deadlines'])[1 + g % 2], 'bench', '{}', now() - interval '5 minutes',
        case when g <= 50000 then null else now() end
      from generate_series(1, 250000) g`.execute(trx)
    await sql`insert into audit_events (seq, at, actor, action, target_type, target_id, outcome, prev_hash, hash)
      select case when g <= 50000 then null else g end, now() - interval '3 minutes', 'system', 'bench',
        'referral', 'bench', 'success', case when g <= 50000 then null else 'x' end, case when g <= 50000 then null else 'x' end
      from generate_series(1, 550000) g`.execute(trx)
  })
  await sql`vacuum analyze agencies, inbox_messages, deliveries, outbox, audit_events`.execute(db)
  const times: number[] = []
  let state: Awaited<ReturnType<typeof readHubState>> | undefined
  for (let run = 0; run < 15; run++) {
    const start = performance.now()
    state = await readHubState(db)
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  console.log(`readHubState, 15 runs, ms: ${times.map((ms) => ms.toFixed(1)).join(' ')}`)
  console.log(`median ${times[7]!.toFixed(1)} ms`)
  console.log(JSON.stringify(state))
} finally {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db)
  await db.destroy()
}
