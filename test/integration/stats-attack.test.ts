import t from 'tap'
import type { NewReferralRow } from '../../src/db/types.js'
import { DIMENSIONS, type Dimension, isCountry } from '../../src/modules/stats/stats.dimensions.js'
import type { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { integerRange, safe } from '../helpers/disclosure.js'
import { equationsFrom, FineTable, inventReferrals, type StatsAnswer, valuesOf } from '../helpers/stats.js'

// Issue 15's attack, on an invented population like the one it was run on (716 referrals from 23
// agencies in 13 countries over a year, with rare cells planted), against every answer the API gives
// the operator and three national contact points: adjacent and overlapping periods, both orders of
// every pair, the NCPs' views, a referral added between two answers, and integer programs (HiGHS)
// over everything answered. The criterion, for every true count n with 1 ≤ n < 11 of every one- and
// two-dimension table of the old API (per quarter; per month and across quarters for the planted
// pairs): the attacker's range for it includes 0 or reaches 11. Pinned (one value) or bounded inside
// 1..10 counts as a failure.

const MIN_CELL = 11
const YEAR = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z') }
const QUARTERS = ['2025-Q1', '2025-Q2', '2025-Q3', '2025-Q4']
const MONTHS = Array.from({ length: 12 }, (_, m) => `2025-${String(m + 1).padStart(2, '0')}`)
const monthsOf = (period: string) => {
  const q = Number(period.slice(-1))
  return MONTHS.slice((q - 1) * 3, q * 3)
}
const quarterOf = (row: NewReferralRow) =>
  `2025-Q${Math.floor((row.submitted_at as Date).getUTCMonth() / 3) + 1}`
const monthOf = (row: NewReferralRow) => (row.submitted_at as Date).toISOString().slice(0, 7)

t.test('the attack of issue 15 pins no count below the threshold', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1000000' })
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const countries = ['RO', 'DE', 'FR', 'IT', 'NL', 'BG', 'ES', 'PL', 'AT', 'BE', 'HU', 'MD', 'GR']
  const ncps = new Map<string, TestAgency>()
  const agencies: TestAgency[] = []
  for (const country of countries) {
    const ncp = await addAgency(app, { kind: 'national_agency', country, ncp: true })
    ncps.set(country, ncp)
    agencies.push(ncp)
  }
  for (const country of ['RO', 'RO', 'DE', 'DE', 'FR', 'IT', 'ES', 'NL', 'BG']) {
    agencies.push(await addAgency(app, { kind: 'ngo', country }))
  }
  t.equal(agencies.length, 22, '22 agencies and the operator: 23')
  const weight: Record<string, number> = {
    RO: 30,
    DE: 25,
    FR: 12,
    IT: 10,
    NL: 5,
    BG: 8,
    ES: 6,
    PL: 5,
    AT: 4,
    BE: 3,
    HU: 3,
    MD: 1,
    GR: 2,
  }
  const weighted = agencies.map((agency) => ({ agency, weight: weight[agency.country]! }))
  const rows = inventReferrals(weighted, weighted, 710, YEAR, 20261203)
  // Six planted rare cells, as in the issue.
  const plant = (from: string, to: string, at: string, victim: Partial<NewReferralRow>) => {
    const [row] = inventReferrals(
      [{ agency: ncps.get(from)!, weight: 1 }],
      [{ agency: ncps.get(to)!, weight: 1 }],
      1,
      YEAR,
      rows.length,
    )
    Object.assign(row!, { submitted_at: new Date(at), ...victim })
    rows.push(row!)
  }
  plant('MD', 'ES', '2025-03-14T10:00:00Z', { minor: true, age_group: '9-17', gender: 'male' })
  plant('RO', 'AT', '2025-05-02T10:00:00Z', { minor: true, age_group: '0-8' })
  plant('GR', 'PL', '2025-02-20T10:00:00Z', { exploitation_forms: ['organ_removal'] })
  plant('HU', 'NL', '2025-08-08T10:00:00Z', { gender: 'other', urgency: 'immediate' })
  plant('BE', 'BG', '2025-11-11T10:00:00Z', {
    exploitation_forms: ['illegal_adoption'],
    minor: true,
    age_group: '0-8',
  })
  plant('AT', 'MD', '2025-12-01T10:00:00Z', { exploitation_forms: ['surrogacy'] })
  t.equal(rows.length, 716)
  await app.db.insertInto('referrals').values(rows).execute()

  const ask = (agency: TestAgency, query: string) =>
    agency.client.request<StatsAnswer>('GET', `/v1/stats/referrals?${query}`)
  const answers: StatsAnswer[] = []
  const callers = [operator, ...['DE', 'RO', 'ES'].map((c) => ncps.get(c)!)]
  const groupings: Dimension[][] = DIMENSIONS.flatMap((a) => [
    [a],
    ...DIMENSIONS.filter((b) => b !== a).map((b) => [a, b]),
  ])

  await t.test('what the API refuses: partial, overlapping, open periods, months', async (t) => {
    const now = new Date()
    const open = `${now.getUTCFullYear()}-Q${Math.floor(now.getUTCMonth() / 3) + 1}`
    for (const query of [
      'groupBy=originCountry&from=2025-02-01&to=2025-05-01',
      'groupBy=originCountry&period=2025-02',
      'groupBy=originCountry&period=2025',
      `groupBy=originCountry&period=${open}`,
      'groupBy=originCountry,month&period=2025-Q1',
    ]) {
      const status = await ask(operator, query).then(
        () => 200,
        (error: HubRequestError) => error.status,
      )
      t.equal(status, 400, query)
    }
  })

  await t.test('every answer it can get, and the same cells in both orders and every view', async (t) => {
    for (const period of QUARTERS) {
      for (const caller of callers) {
        for (const dims of groupings) {
          if (caller !== operator && !dims.some(isCountry)) continue
          answers.push(await ask(caller, `groupBy=${dims.join(',')}&period=${period}`))
        }
      }
    }
    t.ok(answers.length > 500, `${answers.length} answers`)
    const seen = new Map<string, number>()
    let mismatches = 0
    for (const answer of answers) {
      for (const cell of answer.cells) {
        const id = `${answer.period}|${Object.entries(cell.key).sort().join('|')}`
        if (seen.has(id) && seen.get(id) !== cell.count) mismatches += 1
        seen.set(id, cell.count)
        if (cell.count < MIN_CELL) t.fail(`${id}: ${cell.count} published`)
      }
    }
    t.equal(mismatches, 0, `each of ${seen.size} cells has one count wherever it appears`)
  })

  await t.test('one referral added between two answers changes no answer', async (t) => {
    const before = await ask(ncps.get('DE')!, 'groupBy=destinationCountry,minor&period=2025-Q2')
    const [late] = inventReferrals(
      [{ agency: ncps.get('RO')!, weight: 1 }],
      [{ agency: ncps.get('DE')!, weight: 1 }],
      1,
      { from: new Date('2025-05-01'), to: new Date('2025-05-02') },
      1,
    )
    await app.db.insertInto('referrals').values(late!).execute()
    const after = await ask(ncps.get('DE')!, 'groupBy=destinationCountry,minor&period=2025-Q2')
    t.same(after, before)
  })

  /** Fine values of each dimension, as the attacker knows them from the categories. */
  const leaves = Object.fromEntries(
    DIMENSIONS.map((d) => [
      d,
      [...new Set(answers.flatMap((a) => (a.categories[d] ?? []).flatMap((c) => c.members.map(String))))],
    ]),
  )

  await t.test(
    'integer programs over every answer, per quarter, every table of one and two dimensions',
    async (t) => {
      let attacked = 0
      const failures: string[] = []
      for (const period of QUARTERS) {
        const inQuarter = rows.filter((row) => quarterOf(row) === period)
        const ofQuarter = answers.filter((a) => a.period === period)
        for (const [i, a] of DIMENSIONS.entries()) {
          for (const dims of [[a], ...DIMENSIONS.slice(i + 1).map((b) => [a, b])] as Dimension[][]) {
            const table = new FineTable(dims, leaves, [period])
            const equations = equationsFrom(table, ofQuarter, () => [period])
            const truth = table.truth(inQuarter, () => period)
            for (const [name, index] of table.index) {
              const value = truth[index]!
              if (value < 1 || value >= MIN_CELL) continue
              attacked += 1
              const range = await integerRange(equations, truth.length, [index], { stopAtZero: true })
              if (!safe(range, MIN_CELL))
                failures.push(`${period} ${dims.join(',')} ${name} (${value}): ${range.min}..${range.max}`)
            }
          }
        }
      }
      t.same(failures, [], 'no count is pinned or bounded inside 1..10')
      t.ok(attacked > 1500, `${attacked} true counts between 1 and 10 attacked`)
    },
  )

  await t.test('the planted cells, per month and across adjacent and overlapping quarters', async (t) => {
    // Quarters are independent blocks of the attacker's program (no answer spans two), so each
    // window is attacked with the quarters it touches: the same bounds, fewer variables.
    const quartersOf = (window: string[]) =>
      QUARTERS.filter((q) => monthsOf(q).some((m) => window.includes(m)))
    const windows = MONTHS.flatMap((_, s) => [1, 2, 3, 4, 6].map((len) => MONTHS.slice(s, s + len))).filter(
      (w, k, all) => all.findIndex((o) => String(o) === String(w)) === k,
    )
    const planted = [
      ['MD', 'ES'],
      ['RO', 'AT'],
      ['GR', 'PL'],
      ['HU', 'NL'],
      ['BE', 'BG'],
      ['AT', 'MD'],
    ]
    let attacked = 0
    const failures: string[] = []
    for (const [from, to] of planted) {
      for (const window of windows) {
        const touched = quartersOf(window)
        const table = new FineTable(
          ['originCountry', 'destinationCountry'],
          leaves,
          touched.flatMap(monthsOf),
        )
        const equations = equationsFrom(
          table,
          answers.filter((a) => touched.includes(a.period)),
          monthsOf,
        )
        const truth = table.truth(
          rows.filter((r) => touched.includes(quarterOf(r))),
          monthOf,
        )
        const vars = table.vars({ originCountry: [from!], destinationCountry: [to!] }, window)
        const value = vars.reduce((n, v) => n + truth[v]!, 0)
        if (value < 1 || value >= MIN_CELL) continue
        attacked += 1
        const range = await integerRange(equations, truth.length, vars, { stopAtZero: true })
        if (!safe(range, MIN_CELL))
          failures.push(`${from}→${to} ${window.join('..')} (${value}): ${range.min}..${range.max}`)
        if (range.min !== 0) failures.push(`${from}→${to} ${window.join('..')}: at least ${range.min}`)
      }
    }
    t.same(failures, [], 'each planted pair may have had no referral in any window')
    t.ok(attacked >= 30, `${attacked} windows of planted pairs attacked`)
    const md = rows.filter((r) => valuesOf(r, 'originCountry')[0] === 'MD' && quarterOf(r) === '2025-Q1')
    t.ok(md.length >= 1, 'Moldova sent in the first quarter, the planted boy among them')
  })
})
