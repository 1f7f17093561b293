// Statistics over a large invented data set: the time to make the latest quarter's release (the
// grouped SQL and the cuts), then GET /v1/stats/referrals through the service function (p50/p99 over
// RUNS calls, views of the stored release) and once through HTTP inject.
//
//   npx tsx bench/stats.ts [ROWS=1000000] [RUNS=50] [--warmup 5] [--keep]
//                          [--without-stats-index] [--index wide|country]…
//   npx tsx bench/stats.ts --schema bench_… [RUNS]   # time again on a schema kept by --keep
//
// --without-stats-index drops the indexes of migration 2026-11-22-08 before seeding, to compare.
// --index adds a candidate index before seeding: `wide` one on submitted_at including every triage
// column (status and forms too), `country` one on each of sender_country and recipient_country with
// submitted_at (for NCP queries). Neither is in the migrations: the wide one is too wide for the
// planner to prefer it over the heap, and the country ones did not make NCP queries faster.
//
// Builds the app in its own Postgres schema (dropped afterwards unless --keep), registers agencies in
// 14 countries, inserts ROWS invented referrals with one INSERT … SELECT generate_series (random
// picks of valid codes, skewed so that some cells are large and many small; submission times over
// two years in insertion order, as a live hub writes them), runs VACUUM ANALYZE (autovacuum's job in
// production), then times the queries below. Nothing in the data set is real: placeholder JWS,
// receipt and digest.
import { availableParallelism, cpus, loadavg } from 'node:os'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { type RawBuilder, sql } from 'kysely'
import { buildApp } from '../src/app.js'
import { signAccessToken } from '../src/modules/auth/access-token.js'
import { REFERRAL_STATUSES } from '../src/modules/referrals/lifecycle.core.js'
import {
  AGE_GROUPS,
  EXPLOITATION_FORMS,
  GENDERS,
  URGENCIES,
} from '../src/modules/referrals/referral-document.schema.js'
import { latestReleasable, quarterBounds, quarterName } from '../src/modules/stats/stats.dimensions.js'
import { dimensionTrees } from '../src/modules/stats/stats.hierarchy.js'
import { makeRelease } from '../src/modules/stats/stats.release.core.js'
import { countCombinations } from '../src/modules/stats/stats.repository.js'
import { ensureRelease, referralStatistics } from '../src/modules/stats/stats.service.js'
import { addAgency, type TestAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { testConfig, uniqueName } from '../test/helpers/env.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    warmup: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    schema: { type: 'string' },
    'without-stats-index': { type: 'boolean', default: false },
    index: { type: 'string', multiple: true, default: [] },
  },
})
const reuse = values.schema
const rows = reuse ? 0 : Number(positionals[0] ?? 1_000_000)
const runs = Number(positionals[reuse ? 0 : 1] ?? 50)
const warmup = Number(values.warmup)
const CANDIDATE_INDEXES: Record<string, RawBuilder<unknown>[]> = {
  wide: [
    sql`create index bench_wide on referrals (submitted_at) include (sender_country, recipient_country,
      status, urgency, age_group, gender, minor, exploitation_forms)`,
  ],
  country: [
    sql`create index bench_sender_country on referrals (sender_country, submitted_at)`,
    sql`create index bench_recipient_country on referrals (recipient_country, submitted_at)`,
  ],
}
if (
  ![rows, runs, warmup].every((n) => Number.isInteger(n) && n >= 0) ||
  runs < 1 ||
  !values.index.every((name) => name in CANDIDATE_INDEXES)
) {
  process.stderr.write(
    'usage: tsx bench/stats.ts [ROWS] [RUNS] [--warmup N] [--keep] [--without-stats-index] [--index wide|country] | --schema NAME [RUNS]\n',
  )
  process.exit(2)
}

const COUNTRIES = ['RO', 'DE', 'FR', 'IT', 'NL', 'BG', 'ES', 'PL', 'AT', 'BE', 'HU', 'GR', 'PT', 'SE']
/** Submission times spread over the two years before this instant. */
const END = new Date('2026-11-01T00:00:00Z')

const nullStream = new Writable({ write: (_chunk, _encoding, done) => done() })
const teardowns: (() => unknown)[] = []
const fakeTap = { teardown: (fn: () => unknown) => void teardowns.push(fn) }
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
const ms = (n: number) => `${n.toFixed(1)} ms`
const textArray = (values: readonly string[]) =>
  sql`(array[${sql.join(values.map((v) => sql.lit(v)))}]::text[])`

/** Skewed pick from a literal array: low indexes are more frequent (random()^2). */
const skewed = (values: readonly string[]) =>
  sql`${textArray(values)}[1 + floor(${values.length} * power(random(), 2))::int]`

async function seed(app: FastifyInstance, agencies: TestAgency[]) {
  const ids = sql`(array[${sql.join(agencies.map((a) => sql.lit(a.id)))}]::uuid[])`
  const countries = textArray(agencies.map((a) => a.country))
  const n = agencies.length
  const forms = textArray(EXPLOITATION_FORMS)
  await sql`
    insert into referrals (id, sender_id, recipient_id, sender_country, recipient_country, status, urgency,
      stage, victim_reference, age_group, minor, gender, citizenship, exploitation_forms,
      exploitation_countries, identified_in, needs, consent_status, has_sensitive, payload_sha256,
      receipt, document_created_at, submitted_at, ack_due_at)
    select gen_random_uuid(), ${ids}[s], ${ids}[r], ${countries}[s], ${countries}[r],
      ${skewed(REFERRAL_STATUSES)}, ${skewed(URGENCIES)}, 'first_assistance', 'V-bench-' || g, age,
      age in ('0-8', '9-17'), ${skewed(GENDERS)}, array[${countries}[s]], 
      case when k < 0.7 then array[${forms}[f1]]
           when k < 0.95 then array[${forms}[f1], ${forms}[f2]]
           else array[${forms}[f1], ${forms}[f2], ${forms}[f3]] end,
      array[${countries}[r]], ${countries}[r], array['accommodation'], 'given', false, 'bench',
      'bench', at, at, at + interval '1 day'
    from (
      select g, s, 1 + (s + floor(random() * ${n - 1})::int) % ${n} as r, ${skewed(AGE_GROUPS)} as age,
        random() as k, 1 + i1 as f1, 1 + (i1 + 1 + floor(random() * 4)::int) % 10 as f2,
        1 + (i1 + 5 + floor(random() * 5)::int) % 10 as f3,
        ${END}::timestamptz - (${rows} - g + random()) * (interval '730 days' / ${rows}::int) as at
      from (
        select g, 1 + floor(${n} * power(random(), 1.5))::int as s, floor(10 * power(random(), 2))::int as i1
        from generate_series(1, ${rows}) as g
      ) picks
    ) p`.execute(app.db)
  await sql`vacuum analyze referrals`.execute(app.db)
}

async function main() {
  const config = await testConfig({
    DATABASE_SCHEMA: reuse ?? uniqueName('bench'),
    QUEUE_PREFIX: `{${uniqueName('bench')}}`,
    PUBLIC_URL: 'http://hub.bench',
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: '100000000',
  })
  if (!reuse) await provisionTestServices(values.keep ? { teardown: () => undefined } : fakeTap, config)
  let app: FastifyInstance | undefined
  try {
    app = await buildApp(config, { logStream: nullStream })
    await app.ready()
    let operatorId: string
    let ncpId: string
    let seeded: string
    if (reuse) {
      const find = (where: RawBuilder<unknown>) =>
        sql<{ id: string }>`select id from agencies where ${where} order by created_at limit 1`.execute(
          app!.db,
        )
      operatorId = (await find(sql`kind = 'hub_operator'`)).rows[0]!.id
      ncpId = (await find(sql`country = 'RO' and national_contact_point`)).rows[0]!.id
      seeded = `schema ${reuse} reused`
    } else {
      operatorId = (await addAgency(app, { kind: 'hub_operator', country: 'BE' })).id
      const agencies: TestAgency[] = []
      for (const country of COUNTRIES) {
        agencies.push(await addAgency(app, { kind: 'national_agency', country, ncp: true }))
        agencies.push(await addAgency(app, { kind: 'ngo', country }))
      }
      ncpId = agencies[0]!.id
      if (values['without-stats-index']) {
        await sql`drop index referrals_stats, referrals_stats_forms`.execute(app.db)
      }
      for (const name of values.index) {
        for (const statement of CANDIDATE_INDEXES[name]!) await statement.execute(app.db)
      }
      const seedStarted = performance.now()
      await seed(app, agencies)
      seeded = `seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`
    }
    const stored = await sql<{ size: string; n: string }>`
      select pg_size_pretty(pg_total_relation_size('referrals')) as size, count(*) as n from referrals`.execute(
      app.db,
    )

    const deps = { db: app.db, minCell: config.statsMinCell, now: () => END }
    const asOperator = { id: operatorId, country: 'BE', operator: true, nationalContactPoint: false }
    const asNcp = { id: ncpId, country: 'RO', operator: false, nationalContactPoint: true }
    const quarter = latestReleasable(END)
    const period = quarterName(quarter)
    const lines = [
      `statistics: ${stored.rows[0]?.n} invented referrals (${stored.rows[0]?.size} with indexes${values['without-stats-index'] ? ', without the statistics indexes' : ''}${values.index.length > 0 ? `, candidate indexes: ${values.index.join(', ')}` : ''}), ${seeded}; ${runs} runs per query after ${warmup} warm-up`,
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} before timing`,
    ]
    // Making the quarter's release, once: the grouped SQL, then the cuts, then the insert.
    const sqlStarted = performance.now()
    const combinations = await countCombinations(app.db, quarterBounds(quarter))
    const sqlMs = performance.now() - sqlStarted
    const coreStarted = performance.now()
    const content = makeRelease(combinations, dimensionTrees(COUNTRIES), config.statsMinCell)
    const coreMs = performance.now() - coreStarted
    const makeStarted = performance.now()
    await ensureRelease(deps, quarter)
    lines.push(
      `release of ${period}: ${content.referrals} referrals in ${combinations.length} combinations; grouped SQL ${ms(sqlMs)}, cuts ${ms(coreMs)}, whole first request's release ${ms(performance.now() - makeStarted)}`,
      `  categories: ${Object.entries(content.categories)
        .map(([d, c]) => `${d} ${c.length}`)
        .join(', ')}`,
    )
    // Answers are views of the stored release.
    const cases = [
      {
        name: 'operator originCountry,destinationCountry',
        caller: asOperator,
        groupBy: 'originCountry,destinationCountry',
      },
      {
        name: 'operator originCountry,exploitationForm',
        caller: asOperator,
        groupBy: 'originCountry,exploitationForm',
      },
      { name: 'NCP (RO) destinationCountry,ageGroup', caller: asNcp, groupBy: 'destinationCountry,ageGroup' },
    ]
    for (const { name, caller, groupBy } of cases) {
      const query = { groupBy, period }
      for (let i = 0; i < warmup; i += 1) await referralStatistics(deps, caller, query, 'bench')
      const latencies: number[] = []
      let cells = 0
      for (let i = 0; i < runs; i += 1) {
        const started = performance.now()
        const answer = await referralStatistics(deps, caller, query, 'bench')
        latencies.push(performance.now() - started)
        cells = answer.cells.length
      }
      const sorted = latencies.sort((a, b) => a - b)
      lines.push(
        `${name}: p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1)!)} (${cells} cells)`,
      )
    }
    const first = { groupBy: cases[0]!.groupBy, period }
    // Through HTTP: token check, validation, the same service call and serialisation. The first call
    // also compiles the route's serialiser, so it is timed apart from a second one.
    const token = await signAccessToken(
      app.hubKeys,
      config.publicUrl,
      { agencyId: operatorId, scopes: ['stats:read'] },
      900,
      new Date(),
    )
    const inject = async () => {
      const started = performance.now()
      const response = await app!.inject({
        url: `/v1/stats/referrals?groupBy=${first.groupBy}&period=${first.period}`,
        headers: { authorization: `Bearer ${token}` },
      })
      return { response, ms: performance.now() - started }
    }
    const cold = await inject()
    const { response, ms: warm } = await inject()
    lines.push(
      `HTTP inject, ${cases[0]!.name}: first call ${ms(cold.ms)}, second ${ms(warm)} (status ${response.statusCode}, ${response.body.length} bytes)`,
    )
    lines.push(`load average ${loadavg()[0]!.toFixed(1)} after timing`)
    process.stdout.write(`${lines.join('\n')}\n`)
    if (response.statusCode !== 200 || cold.response.statusCode !== 200) process.exitCode = 1
    if (values.keep) process.stdout.write(`kept schema ${config.databaseSchema}\n`)
  } finally {
    await app?.close()
    for (const fn of teardowns.reverse()) await fn()
  }
}

await main()
