import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { escalationsQuery } from '../../src/modules/referrals/referrals.repository.js'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-04-20-consent-withdrawal'
const MIGRATION = '2026-12-05-02-escalation-index'

t.test('inbox messages are indexed by referral for escalations only', async (t) => {
  const { schema, db, migrator } = await migratedUpTo(t, BEFORE)
  const indexes = async () =>
    (
      await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes
        where schemaname = ${schema} and tablename = 'inbox_messages' order by indexname`.execute(db)
    ).rows
  t.ok(
    (await indexes()).some((index) => index.indexname === 'inbox_messages_referral'),
    'before: every message indexed by referral',
  )

  const to = await migrator.migrateTo(MIGRATION)
  if (to.error) throw to.error
  const after = await indexes()
  t.notOk(
    after.some((index) => index.indexname === 'inbox_messages_referral'),
    'the index of every message is gone',
  )
  t.match(
    after.find((index) => index.indexname === 'inbox_messages_escalation')?.indexdef,
    /\(referral_id, agency_id\) WHERE \(type = 'escalation'::text\)/,
  )

  // A plan made for any parameter values (as Postgres makes for a statement prepared and run often)
  // can use a partial index only when the statement itself names the type; with the type passed as a
  // parameter it would read messages of every type.
  const query = escalationsQuery(db, randomUUID(), randomUUID()).limit(1).compile()
  await db.connection().execute(async (connection) => {
    await sql`set plan_cache_mode = force_generic_plan`.execute(connection)
    await sql`set enable_seqscan = off`.execute(connection)
    await sql.raw(`prepare escalations as ${query.sql}`).execute(connection)
    const values = sql.join(query.parameters.map((value) => sql.lit(value)))
    const plan = await sql<{ 'QUERY PLAN': string }>`explain execute escalations (${values})`.execute(
      connection,
    )
    t.match(
      plan.rows.map((row) => row['QUERY PLAN']).join('\n'),
      /Index (Only )?Scan using inbox_messages_escalation/,
      'the escalation lookup uses the partial index',
    )
    await sql`deallocate escalations`.execute(connection)
    await sql`reset all`.execute(connection)
  })

  const down = await migrator.migrateDown()
  if (down.error) throw down.error
  t.ok(
    (await indexes()).some((index) => index.indexname === 'inbox_messages_referral'),
    'down: the index of every message is back',
  )
})
