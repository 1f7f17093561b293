import type { Job } from 'bullmq'
import { sql } from 'kysely'
import pino from 'pino'
import t from 'tap'
import { maintenanceProcessor } from '../../src/jobs/maintenance.js'
import { DIMENSIONS, type Dimension } from '../../src/modules/stats/stats.dimensions.js'
import { ensureRelease } from '../../src/modules/stats/stats.service.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { refusal } from '../helpers/refusal.js'
import { inventReferrals, type StatsAnswer, valuesOf } from '../helpers/stats.js'

const MIN_CELL = 11
const Q1 = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-04-01T00:00:00Z') }

t.test('referral statistics: quarterly releases', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const roNcp = await addAgency(app, { kind: 'national_agency', country: 'RO', ncp: true })
  const roNgo = await addAgency(app, { kind: 'ngo', country: 'RO' })
  const deNcp = await addAgency(app, { kind: 'national_agency', country: 'DE', ncp: true })
  const dePolice = await addAgency(app, { kind: 'law_enforcement', country: 'DE' })
  const frNgo = await addAgency(app, { kind: 'ngo', country: 'FR' })
  const itNgo = await addAgency(app, { kind: 'ngo', country: 'IT' })
  const mdNgo = await addAgency(app, { kind: 'ngo', country: 'MD' })
  const weighted = (pairs: [TestAgency, number][]) => pairs.map(([agency, weight]) => ({ agency, weight }))
  const senders = weighted([
    [roNgo, 30],
    [roNcp, 10],
    [dePolice, 20],
    [frNgo, 15],
    [itNgo, 8],
    [mdNgo, 2],
  ])
  const recipients = weighted([
    [deNcp, 30],
    [roNcp, 20],
    [frNgo, 10],
    [itNgo, 6],
    [dePolice, 5],
  ])
  const inQ1 = inventReferrals(senders, recipients, 400, Q1, 20261203)
  // At the edges: the start is in the quarter, the end is not.
  const edges = inventReferrals(senders, recipients, 2, Q1, 5)
  edges[0]!.submitted_at = Q1.from
  edges[1]!.submitted_at = Q1.to
  const fewInQ3 = inventReferrals(
    senders,
    recipients,
    5,
    { from: new Date('2025-07-01'), to: new Date('2025-10-01') },
    9,
  )
  await app.db
    .insertInto('referrals')
    .values([...inQ1, ...edges, ...fewInQ3])
    .execute()
  const counted = [...inQ1, edges[0]!]

  const stats = (agency: TestAgency, query: string) =>
    agency.client.request<StatsAnswer>('GET', `/v1/stats/referrals?${query}`)

  /** The true count of a cell: referrals with a value of each dimension inside its category. */
  const truth = (answer: StatsAnswer, key: StatsAnswer['cells'][number]['key']) =>
    counted.filter((row) =>
      Object.entries(key).every(([d, v]) => {
        const members = answer.categories[d as Dimension]!.find((c) => c.value === v)!.members.map(String)
        return valuesOf(row, d as Dimension).some((value) => members.includes(value))
      }),
    ).length

  t.test('every cell is the true count of its categories, and none is below the threshold', async (t) => {
    const answer = await stats(operator, 'groupBy=originCountry,destinationCountry&period=2025-Q1')
    t.equal(answer.period, '2025-Q1')
    t.equal(answer.from, '2025-01-01T00:00:00.000Z')
    t.equal(answer.to, '2025-04-01T00:00:00.000Z')
    t.equal(answer.scope, 'all')
    t.match(answer.release, { number: 1, minCell: MIN_CELL, referrals: counted.length })
    t.equal(answer.release.referrals, 401, 'the referral at the start counts, the one at the end does not')
    const members = answer.categories.originCountry!.flatMap((c) => c.members)
    t.same(
      [...members].sort(),
      ['BE', 'DE', 'FR', 'IT', 'MD', 'RO'],
      'every directory country in one category',
    )
    t.equal(
      answer.cells.length,
      answer.categories.originCountry!.length * answer.categories.destinationCountry!.length,
      'every combination of categories is listed',
    )
    for (const cell of answer.cells) {
      t.equal(cell.count, truth(answer, cell.key), JSON.stringify(cell.key))
      t.ok(cell.count >= MIN_CELL, `${JSON.stringify(cell.key)}: ${cell.count} ≥ ${MIN_CELL}`)
    }
    t.ok(
      answer.categories.originCountry!.some((c) => c.members.includes('MD') && c.members.length > 1),
      'Moldova, with few referrals, is merged into a group',
    )
    t.equal(
      answer.totals.grand,
      answer.cells.reduce((n, c) => n + c.count, 0),
    )
  })

  t.test(
    'every table of the quarter is a view of one release: both orders, totals, one dimension',
    async (t) => {
      for (const [i, a] of DIMENSIONS.entries()) {
        const one = await stats(operator, `groupBy=${a}&period=2025-Q1`)
        for (const b of DIMENSIONS.slice(i + 1)) {
          const ab = await stats(operator, `groupBy=${a},${b}&period=2025-Q1`)
          const ba = await stats(operator, `groupBy=${b},${a}&period=2025-Q1`)
          const byKey = (answer: StatsAnswer) =>
            Object.fromEntries(answer.cells.map((c) => [`${c.key[a]}|${c.key[b]}`, c.count]))
          t.same(byKey(ab), byKey(ba), `${a},${b} and ${b},${a} hold the same cells`)
          t.same(ab.categories[a], one.categories[a], `${a} has the same categories in every table`)
          if (b !== 'exploitationForm') t.same(ab.totals.rows, one.cells, `${a},${b} rows are the ${a} table`)
          const published = [...ab.cells, ...one.cells].map((c) => c.count)
          if (published.some((n) => n < MIN_CELL)) t.fail(`${a},${b}: a count below ${MIN_CELL}`)
        }
      }
    },
  )

  t.test('a national contact point sees the cells of its country group, the same cells', async (t) => {
    const all = await stats(operator, 'groupBy=originCountry,gender&period=2025-Q1')
    const mine = await stats(roNcp, 'groupBy=originCountry,gender&period=2025-Q1')
    t.equal(mine.scope, 'RO')
    const roGroup = mine.categories.originCountry!.find((c) => c.members.includes('RO'))!.value
    t.ok(mine.cells.length > 0)
    t.ok(
      mine.cells.every((c) => c.key.originCountry === roGroup),
      `only cells of ${roGroup}`,
    )
    for (const cell of mine.cells) {
      const same = all.cells.find(
        (c) => c.key.originCountry === cell.key.originCountry && c.key.gender === cell.key.gender,
      )
      t.equal(cell.count, same?.count, JSON.stringify(cell.key))
    }
    const pairs = await stats(deNcp, 'groupBy=originCountry,destinationCountry&period=2025-Q1')
    const deOrigin = pairs.categories.originCountry!.find((c) => c.members.includes('DE'))!.value
    const deDestination = pairs.categories.destinationCountry!.find((c) => c.members.includes('DE'))!.value
    t.ok(
      pairs.cells.every(
        (c) => c.key.originCountry === deOrigin || c.key.destinationCountry === deDestination,
      ),
      'pairs touching the group of DE',
    )
    t.equal(
      pairs.totals.grand,
      pairs.cells.reduce((n, c) => n + c.count, 0),
      'the total is the sum of the cells shown',
    )
    const refused = await refusal(stats(roNcp, 'groupBy=gender&period=2025-Q1'))
    t.equal(refused.status, 400)
    t.ok(
      refused.body.errors?.some(
        (e) => e.pointer === '/querystring/groupBy' && /originCountry/.test(e.detail),
      ),
    )
  })

  t.test('a release is frozen: a referral added or changed later changes nothing', async (t) => {
    const queries = ['groupBy=originCountry,urgency', 'groupBy=status', 'groupBy=ageGroup,minor']
    const before = await Promise.all(queries.map((q) => stats(operator, `${q}&period=2025-Q1`)))
    const late = inventReferrals(senders, recipients, 15, Q1, 77)
    await app.db.insertInto('referrals').values(late).execute()
    await app.db.updateTable('referrals').set({ status: 'withdrawn' }).where('id', '=', inQ1[0]!.id).execute()
    const after = await Promise.all(queries.map((q) => stats(operator, `${q}&period=2025-Q1`)))
    t.same(after, before, 'the same answers, release time included')
    const rows = await sql<{
      n: number
    }>`select count(*)::int as n from stats_releases where period = '2025-Q1'`.execute(app.db)
    t.equal(rows.rows[0]!.n, 1, 'one release of the quarter')
  })

  t.test('the application role cannot change or delete a release', async (t) => {
    for (const statement of [
      sql`update stats_releases set referrals = 99`,
      sql`delete from stats_releases`,
    ]) {
      await t.rejects(
        app.db.transaction().execute(async (trx) => {
          await sql`set local role trm_app`.execute(trx)
          await statement.execute(trx)
        }),
        /permission denied/,
      )
    }
  })

  t.test('a quarter with fewer referrals than the threshold publishes nothing else', async (t) => {
    const few = await stats(operator, 'groupBy=originCountry&period=2025-Q3')
    t.equal(few.release.referrals, null)
    t.same(few.cells, [])
    t.equal(few.totals.grand, null)
    t.ok(few.notes.some((n) => n.includes('possibly none')))
    const none = await stats(operator, 'groupBy=gender&period=2019-Q2')
    t.equal(none.release.referrals, null, 'none at all reads the same')
  })

  t.test('concurrent first requests make one release', async (t) => {
    const answers = await Promise.all(
      [operator, roNcp, deNcp, operator].map((agency) =>
        stats(agency, 'groupBy=originCountry&period=2025-Q2'),
      ),
    )
    t.equal(new Set(answers.map((a) => a.release.createdAt)).size, 1)
    const rows = await sql<{
      n: number
    }>`select count(*)::int as n from stats_releases where period = '2025-Q2'`.execute(app.db)
    t.equal(rows.rows[0]!.n, 1)
    const direct = await Promise.all(
      [1, 2, 3].map(() =>
        ensureRelease({ db: app.db, minCell: MIN_CELL, now: () => new Date() }, { year: 2024, quarter: 4 }),
      ),
    )
    t.equal(new Set(direct.map((r) => r.created_at.toISOString())).size, 1, 'the service too')
  })

  t.test('the hourly maintenance job releases the latest ended quarter', async (t) => {
    const run = maintenanceProcessor({
      config: app.config,
      db: app.db,
      hubKeys: app.hubKeys,
      log: pino({ level: 'silent' }),
      now: () => new Date('2024-07-01T02:00:00Z'),
    })
    const result = (await run({ name: 'stats-release' } as Job)) as { release: { period: string } }
    t.equal(result.release.period, '2024-Q2')
    const rows = await sql<{
      period: string
    }>`select period from stats_releases where period = '2024-Q2'`.execute(app.db)
    t.equal(rows.rows.length, 1)
  })

  t.test('an NGO, and an agency that is not an NCP, get 403', async (t) => {
    for (const agency of [roNgo, dePolice]) {
      const refused = await refusal(stats(agency, 'groupBy=gender&period=2025-Q1'))
      t.equal(refused.status, 403)
      t.equal(refused.body.code, 'TRM_AUTH_FORBIDDEN')
    }
    const anonymous = await app.inject({ url: '/v1/stats/referrals?groupBy=gender' })
    t.equal(anonymous.statusCode, 401)
  })

  t.test('bad queries are 400 problems that name the parameter, and make no release', async (t) => {
    const now = new Date()
    const current = `${now.getUTCFullYear()}-Q${Math.floor(now.getUTCMonth() / 3) + 1}`
    const cases: [string, string, RegExp][] = [
      ['groupBy=gender,status,urgency', '/querystring/groupBy', /At most 2/],
      ['groupBy=gender,victimName', '/querystring/groupBy', /Unknown dimension/],
      ['groupBy=month', '/querystring/groupBy', /calendar quarter/],
      ['groupBy=gender,gender', '/querystring/groupBy', /twice/],
      ['groupBy=', '/querystring/groupBy', /./],
      [`groupBy=gender&period=${current}`, '/querystring/period', /has not ended/],
      ['groupBy=gender&period=2999-Q1', '/querystring/period', /has not ended/],
      ['groupBy=gender&period=2025-02', '/querystring/period', /is a month/],
      ['groupBy=gender&period=2025', '/querystring/period', /is a year/],
      ['groupBy=gender&period=2025-Q7', '/querystring/period', /YYYY-Qn/],
      ['groupBy=gender&from=2025-01-01&to=2025-02-01', '/querystring/from', /./],
      ['groupBy=gender&to=2025-02-01', '/querystring/to', /./],
    ]
    const releases = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from stats_releases`.execute(app.db)).rows[0]!.n
    const before = await releases()
    for (const [query, pointer, detail] of cases) {
      const refused = await refusal(operator.client.request('GET', `/v1/stats/referrals?${query}`))
      t.equal(refused.status, 400, query)
      t.equal(refused.body.code, 'TRM_VALIDATION', query)
      t.ok(
        refused.body.errors?.some((e) => e.pointer === pointer && detail.test(e.detail)),
        `${query} names ${pointer}: ${JSON.stringify(refused.body.errors)}`,
      )
    }
    t.equal(await releases(), before, 'no release was made by a refused query')
  })

  t.test('every statistics query is audited', async (t) => {
    const events = () =>
      app.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'stats.queried')
        .where('actor', '=', deNcp.id)
        .orderBy('id')
        .execute()
    const before = await events()
    await stats(deNcp, 'groupBy=status,destinationCountry&period=2025-Q1')
    const after = await events()
    t.equal(after.length, before.length + 1)
    t.match(after.at(-1)!.details, {
      groupBy: 'status,destinationCountry',
      period: '2025-Q1',
      release: 1,
      scope: 'DE',
    })
  })
})
