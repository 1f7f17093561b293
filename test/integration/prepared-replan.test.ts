import { sql } from 'kysely'
import t from 'tap'
import { createDb, executePrepared, planGeneration, REPLAN_FIRST_AT } from '../../src/db/create-db.js'
import { DATABASE_URL, uniqueName } from '../helpers/env.js'

t.test('a statement is prepared again as its runs double', async (t) => {
  t.same(
    [1, REPLAN_FIRST_AT - 1, REPLAN_FIRST_AT, 2 * REPLAN_FIRST_AT - 1, 2 * REPLAN_FIRST_AT, 1_000_000].map(
      planGeneration,
    ),
    [0, 0, 1, 1, 2, 15],
  )
})

// A connection that prepared a lookup by key while its table held one row keeps a plan that reads
// the whole table; nothing analyzes this table again (autovacuum off for it, as on a server without it).
// Once it has run the lookup often enough, the connection plans it again, for the table as it is.
t.test('a lookup prepared on a small table uses its index once the table has grown', async (t) => {
  const schema = uniqueName('trm_test_replan')
  const { db } = createDb(
    { databaseUrl: DATABASE_URL, databaseSchema: schema, databasePoolMax: 1 },
    'trm-test-replan',
  )
  t.teardown(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db)
    await db.destroy()
  })
  await sql`create schema ${sql.id(schema)}`.execute(db)
  await sql`create table items (id int primary key, label text not null) with (autovacuum_enabled = false)`.execute(
    db,
  )
  await sql`insert into items values (1, 'invented item 1')`.execute(db)
  // Sized while small, as the hub's migrations size some tables (CLUSTER records them as empty).
  await sql`analyze items`.execute(db)
  const lookup = (id: number) =>
    executePrepared(db, sql<{ label: string }>`select label from items where id = ${id}`.compile(db))
  // One connection (the pool holds one), so every statement below sees its prepared statements.
  const preparedHere = async () =>
    (
      await sql<{
        name: string
      }>`select name from pg_prepared_statements where statement like '%from items%'`.execute(db)
    ).rows.map((row) => row.name)
  const planOf = async (name: string) => {
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain execute ${sql.id(name)}(2)`.execute(db)
    return rows.map((row) => row['QUERY PLAN']).join('\n')
  }

  for (let run = 1; run <= 10; run += 1) t.same((await lookup(1)).rows, [{ label: 'invented item 1' }])
  const [first] = await preparedHere()
  t.match(await planOf(first!), /Seq Scan on items/, 'planned for a table of one row: read it all')

  await sql`insert into items select n, 'invented item ' || n from generate_series(2, 50000) n`.execute(db)
  // Postgres keeps that plan until something invalidates it: not asserted, since a cluster busy
  // elsewhere (an overflowing invalidation queue) can make it plan everything again at any time.
  for (let run = 11; run <= REPLAN_FIRST_AT + 10; run += 1) {
    t.same((await lookup(2)).rows, [{ label: 'invented item 2' }], `run ${run}`)
  }
  const now = await preparedHere()
  t.equal(now.length, 1, 'the first preparation was deallocated')
  t.not(now[0], first, 'by another name')
  t.match(await planOf(now[0]!), /Index Scan using items_pkey on items/, 'planned for the table as it is')
})
