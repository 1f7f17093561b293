import t from 'tap'
import { DIMENSIONS, type Dimension } from '../../src/modules/stats/stats.dimensions.js'
import { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { attackAnswer, expectedCounts, inventReferrals, type StatsAnswer } from '../helpers/stats.js'

const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    if (error instanceof HubRequestError) {
      return { status: error.status, body: error.body as { code: string; errors?: { pointer: string }[] } }
    }
    throw error
  }
  throw new Error('expected a refusal')
}

const FROM = '2026-01-01'
const TO = '2026-07-01'
const MIN_CELL = 11

t.test('referral statistics', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const roNcp = await addAgency(app, { kind: 'national_agency', country: 'RO', ncp: true })
  const roNgo = await addAgency(app, { kind: 'ngo', country: 'RO' })
  const deNcp = await addAgency(app, { kind: 'national_agency', country: 'DE', ncp: true })
  const dePolice = await addAgency(app, { kind: 'law_enforcement', country: 'DE' })
  const frNgo = await addAgency(app, { kind: 'ngo', country: 'FR' })
  const itNgo = await addAgency(app, { kind: 'ngo', country: 'IT' })
  const nlNgo = await addAgency(app, { kind: 'ngo', country: 'NL' })
  const weighted = (pairs: [TestAgency, number][]) => pairs.map(([agency, weight]) => ({ agency, weight }))
  const senders = weighted([
    [roNgo, 30],
    [roNcp, 10],
    [dePolice, 20],
    [frNgo, 15],
    [itNgo, 8],
    [nlNgo, 4],
  ])
  const recipients = weighted([
    [deNcp, 30],
    [roNcp, 20],
    [frNgo, 10],
    [itNgo, 6],
    [nlNgo, 3],
    [dePolice, 5],
  ])
  const period = { from: new Date(`${FROM}T00:00:00Z`), to: new Date(`${TO}T00:00:00Z`) }
  const inPeriod = inventReferrals(senders, recipients, 400, period, 20261122)
  // At the edges: from is included, to is excluded; and some outside the period altogether.
  const edges = inventReferrals(senders, recipients, 3, period, 5)
  edges[0]!.submitted_at = period.from
  edges[1]!.submitted_at = period.to
  edges[2]!.submitted_at = new Date('2025-12-31T23:59:59.999Z')
  const outside = inventReferrals(
    senders,
    recipients,
    30,
    { from: new Date('2025-01-01'), to: period.from },
    9,
  )
  await app.db
    .insertInto('referrals')
    .values([...inPeriod, ...edges, ...outside])
    .execute()
  const counted = [...inPeriod, edges[0]!]

  const stats = (agency: TestAgency, groupBy: string, extra = `&from=${FROM}&to=${TO}`) =>
    agency.client.request<StatsAnswer>('GET', `/v1/stats/referrals?groupBy=${groupBy}${extra}`)

  t.test(
    'the operator gets the expected counts; every count below the threshold is suppressed',
    async (t) => {
      const answer = await stats(operator, 'originCountry,destinationCountry')
      t.same(answer.groupBy, ['originCountry', 'destinationCountry'])
      t.equal(answer.from, '2026-01-01T00:00:00.000Z')
      t.equal(answer.to, '2026-07-01T00:00:00.000Z')
      t.equal(answer.scope, 'all')
      t.equal(answer.minCell, MIN_CELL)
      const countries = ['BE', 'DE', 'FR', 'IT', 'NL', 'RO']
      t.equal(answer.cells.length, 36, 'every pair of directory countries is listed, zeros included')
      t.same(
        answer.totals.rows!.map((r) => r.key['originCountry']),
        countries,
      )
      const expected = expectedCounts(counted, ['originCountry', 'destinationCountry'])
      let published = 0
      for (const cell of answer.cells) {
        const value =
          expected.get(JSON.stringify([cell.key['originCountry'], cell.key['destinationCountry']])) ?? 0
        if (value < MIN_CELL)
          t.ok(cell.suppressed && cell.count === null, `${JSON.stringify(cell.key)} (${value})`)
        if (!cell.suppressed) {
          t.equal(cell.count, value, JSON.stringify(cell.key))
          published += 1
        }
      }
      t.ok(published >= 6, `most of the weight is published (${published} cells)`)
      t.equal(
        answer.totals.grand.count,
        counted.length,
        'the grand total counts the referral at from, not at to',
      )
      const roRow = answer.totals.rows!.find((r) => r.key['originCountry'] === 'RO')!
      t.equal(roRow.count, counted.filter((r) => r.sender_country === 'RO').length)
    },
  )

  t.test('one dimension: every value listed, the grand total, forms counted once per form', async (t) => {
    const genders = await stats(operator, 'gender')
    t.same(
      genders.cells.map((c) => c.key['gender']),
      ['female', 'male', 'other', 'unknown'],
    )
    t.notOk(genders.totals.rows)
    t.equal(genders.totals.grand.count, counted.length)
    const forms = await stats(operator, 'exploitationForm')
    const pairs = counted.reduce((n, r) => n + r.exploitation_forms.length, 0)
    t.ok(pairs > counted.length, 'the seed has referrals with several forms')
    t.equal(forms.totals.grand.count, pairs, 'the grand total is the sum of the cells')
    const expected = expectedCounts(counted, ['exploitationForm'])
    for (const cell of forms.cells) {
      const value = expected.get(JSON.stringify([cell.key['exploitationForm']])) ?? 0
      t.equal(cell.count, cell.suppressed ? null : value)
      if (value < MIN_CELL) t.ok(cell.suppressed)
    }
    t.ok(
      forms.notes.some((n) => /once under each of its forms/.test(n)),
      'the notes say so',
    )
    const months = await stats(operator, 'month')
    t.same(
      months.cells.map((c) => c.key['month']),
      ['2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06'],
    )
    const minors = await stats(operator, 'minor')
    t.same(
      minors.cells.map((c) => c.key['minor']),
      [false, true],
    )
  })

  /** Every grouping the API offers, one and two dimensions. */
  const groupings: Dimension[][] = [
    ...DIMENSIONS.map((d) => [d]),
    ...DIMENSIONS.flatMap((a, i) => DIMENSIONS.slice(i + 1).map((b) => [a, b])),
  ]

  const attack = async (t: Tap, agency: TestAgency, rows: typeof counted) => {
    let hiddenSmall = 0
    let leakyWithoutSecondary = 0
    for (const dimensions of groupings) {
      const answer = await stats(agency, dimensions.join(','))
      const result = attackAnswer(answer, expectedCounts(rows, dimensions), MIN_CELL)
      for (const failure of result.failures) t.fail(`${dimensions.join(',')}: ${failure}`)
      hiddenSmall += result.attacked
      if (result.leakyWithoutSecondary) leakyWithoutSecondary += 1
    }
    t.ok(
      hiddenSmall > 100,
      `${hiddenSmall} small counts attacked over ${groupings.length} groupings, none recovered`,
    )
    t.ok(
      leakyWithoutSecondary > 0,
      `${leakyWithoutSecondary} of these answers would leak without secondary suppression`,
    )
  }
  type Tap = Pick<typeof t, 'fail' | 'ok'>

  t.test('no suppressed count can be recovered from any answer (operator)', async (t) => {
    await attack(t, operator, counted)
  })

  t.test('an NCP sees only flows touching its country, and cannot recover a suppressed count', async (t) => {
    const touching = counted.filter((r) => r.sender_country === 'RO' || r.recipient_country === 'RO')
    const answer = await stats(roNcp, 'originCountry,destinationCountry')
    t.equal(answer.scope, 'RO')
    t.ok(
      answer.cells.every((c) => c.key['originCountry'] === 'RO' || c.key['destinationCountry'] === 'RO'),
      'only pairs touching RO are listed',
    )
    t.equal(answer.cells.length, 11, 'RO to each of six countries and each of five others to RO')
    t.equal(answer.totals.grand.count, touching.length)
    const deFr = await stats(roNcp, 'originCountry')
    const deRow = deFr.cells.find((c) => c.key['originCountry'] === 'DE')!
    const fromDe = touching.filter((r) => r.sender_country === 'DE').length
    t.equal(deRow.count, fromDe < MIN_CELL ? null : fromDe, 'DE origin counts only referrals to RO')
    t.ok(deFr.notes.some((n) => n.includes('sent from or to RO')))
    const de = await stats(deNcp, 'gender')
    t.equal(de.scope, 'DE')
    t.equal(
      de.totals.grand.count,
      counted.filter((r) => r.sender_country === 'DE' || r.recipient_country === 'DE').length,
    )
    await attack(t, roNcp, touching)
  })

  t.test('row and column totals agree with the one-dimension answers', async (t) => {
    const two = await stats(operator, 'ageGroup,urgency')
    const ages = await stats(operator, 'ageGroup')
    const urgencies = await stats(operator, 'urgency')
    t.same(two.totals.rows, ages.cells)
    t.same(two.totals.columns, urgencies.cells)
    t.same(two.totals.grand, ages.totals.grand)
  })

  t.test('an NGO, and an agency that is not an NCP, get 403', async (t) => {
    for (const agency of [roNgo, dePolice]) {
      const refused = await refusal(stats(agency, 'gender'))
      t.equal(refused.status, 403)
      t.equal(refused.body.code, 'TRM_AUTH_FORBIDDEN')
    }
    const anonymous = await app.inject({ url: '/v1/stats/referrals?groupBy=gender' })
    t.equal(anonymous.statusCode, 401)
  })

  t.test('bad queries are 400 problems that name the parameter', async (t) => {
    const cases: [string, string][] = [
      ['groupBy=gender,status,month', '/querystring/groupBy'],
      ['groupBy=gender,victimName', '/querystring/groupBy'],
      ['groupBy=gender,gender', '/querystring/groupBy'],
      ['groupBy=gender,', '/querystring/groupBy'],
      ['groupBy=', '/querystring/groupBy'],
      ['groupBy=gender&from=2026-02-30', '/querystring/from'],
      ['groupBy=gender&from=yesterday', '/querystring/from'],
      ['groupBy=gender&from=2026-03-01&to=2026-02-01', '/querystring/to'],
      ['groupBy=gender&from=2026-03-01T00:00:00Z&to=2026-03-01', '/querystring/to'],
      ['groupBy=month,originCountry&from=1900-01-01', '/querystring/from'],
      ['groupBy=gender&country=DE', '/querystring/country'],
    ]
    for (const [query, pointer] of cases) {
      const refused = await refusal(operator.client.request('GET', `/v1/stats/referrals?${query}`))
      t.equal(refused.status, 400, query)
      t.equal(refused.body.code, 'TRM_VALIDATION', query)
      t.ok(
        refused.body.errors?.some((e) => e.pointer === pointer),
        `${query} names ${pointer}: ${JSON.stringify(refused.body.errors)}`,
      )
    }
    const missing = await refusal(operator.client.request('GET', '/v1/stats/referrals'))
    t.equal(missing.status, 400)
  })

  t.test(
    'RFC 3339 times with offsets; the default period is the twelve months up to next month',
    async (t) => {
      const local = await stats(
        operator,
        'urgency',
        '&from=2026-01-01T01:00:00%2B01:00&to=2026-07-01T02:00:00%2B02:00',
      )
      t.equal(local.from, '2026-01-01T00:00:00.000Z')
      t.equal(local.to, '2026-07-01T00:00:00.000Z')
      const defaults = await stats(operator, 'urgency', '')
      const now = new Date()
      const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
      t.equal(defaults.to, nextMonth.toISOString())
      const from = new Date(nextMonth)
      from.setUTCMonth(from.getUTCMonth() - 12)
      t.equal(defaults.from, from.toISOString())
    },
  )

  t.test('every statistics query is audited', async (t) => {
    const before = await app.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'stats.queried')
      .where('actor', '=', deNcp.id)
      .execute()
    await stats(deNcp, 'status,month')
    const after = await app.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'stats.queried')
      .where('actor', '=', deNcp.id)
      .orderBy('id')
      .execute()
    t.equal(after.length, before.length + 1)
    t.match(after.at(-1)!.details, {
      groupBy: 'status,month',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-07-01T00:00:00.000Z',
      scope: 'DE',
    })
  })
})
