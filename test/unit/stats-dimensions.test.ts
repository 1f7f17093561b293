import t from 'tap'
import {
  latestReleasable,
  parseGroupBy,
  parsePeriod,
  quarterBounds,
  RELEASE_DELAY_MS,
} from '../../src/modules/stats/stats.dimensions.js'
import { CODE_LISTS, dimensionTrees, leavesOf } from '../../src/modules/stats/stats.hierarchy.js'
import { statisticsNotes } from '../../src/modules/stats/stats.notes.js'

t.test('groupBy: one or two known dimensions, none repeated; month is gone', async (t) => {
  t.same(parseGroupBy('originCountry'), ['originCountry'])
  t.same(parseGroupBy('status, exploitationForm'), ['status', 'exploitationForm'])
  const refused = ['a', 'gender,gender', 'gender,status,urgency', 'gender,', ',', 'Gender', 'month']
  for (const raw of refused) {
    t.match(parseGroupBy(raw), { pointer: '/querystring/groupBy', detail: String }, raw)
  }
  t.match(parseGroupBy('gender,victimName'), { detail: /Unknown dimension victimName/ })
  t.match(parseGroupBy('month,gender'), { detail: /released per calendar quarter/ })
})

t.test('period: whole calendar quarters that have ended, an hour after they end', async (t) => {
  const now = new Date('2026-11-22T10:00:00Z')
  t.same(parsePeriod('2026-Q1', now), { year: 2026, quarter: 1 })
  t.same(parsePeriod(undefined, now), { year: 2026, quarter: 3 }, 'default: the latest ended quarter')
  t.same(quarterBounds({ year: 2026, quarter: 4 }), {
    start: new Date('2026-10-01T00:00:00Z'),
    end: new Date('2027-01-01T00:00:00Z'),
  })
  t.same(quarterBounds({ year: 50, quarter: 1 }).start.toISOString(), '0050-01-01T00:00:00.000Z')
  t.match(parsePeriod('2026-Q4', now), { pointer: '/querystring/period', detail: /has not ended/ })
  t.match(parsePeriod('2027-Q1', now), { pointer: '/querystring/period', detail: /has not ended/ })
  t.match(parsePeriod('2026-03', now), { pointer: '/querystring/period', detail: /is a month.*2026-Q1/ })
  t.match(parsePeriod('2026', now), { pointer: '/querystring/period', detail: /is a year/ })
  for (const raw of ['2026-Q5', '2026-13', 'yesterday', '2026-Q1-01', '0000-Q1']) {
    t.match(parsePeriod(raw, now), { pointer: '/querystring/period' }, raw)
  }
  // Just after a quarter ends, within the release delay: refused, and not the default yet.
  const justAfter = new Date(Date.parse('2026-10-01T00:00:00Z') + RELEASE_DELAY_MS - 1)
  t.match(parsePeriod('2026-Q3', justAfter), {
    detail: /ended at 2026-10-01T00:00:00.000Z; .* from 2026-10-01T01:00:00.000Z/,
  })
  t.same(latestReleasable(justAfter), { year: 2026, quarter: 2 })
  t.same(parsePeriod('2026-Q3', new Date(Date.parse('2026-10-01T00:00:00Z') + RELEASE_DELAY_MS)), {
    year: 2026,
    quarter: 3,
  })
})

t.test('the trees: every code-list value a leaf exactly once; countries by region', async (t) => {
  const trees = dimensionTrees(['RO', 'DE', 'MD', 'FR', 'TR', 'ES'])
  for (const [d, values] of Object.entries(CODE_LISTS)) {
    t.same(leavesOf(trees[d as keyof typeof CODE_LISTS]).sort(), [...values].sort(), d)
  }
  const regions = trees.originCountry.children!.map((c) => [c.value, leavesOf(c)])
  t.same(regions, [
    ['eastern_europe', ['MD', 'RO']],
    ['ES', ['ES']],
    ['western_europe', ['DE', 'FR']],
    ['TR', ['TR']],
  ])
})

t.test('notes say what is counted, what is merged, and when nothing is published', async (t) => {
  const ncp = statisticsNotes({
    dimensions: ['originCountry', 'gender'],
    country: 'RO',
    minCell: 11,
    period: '2026-Q1',
    withheld: false,
  })
  t.ok(ncp.some((n) => n.includes('category holding RO')))
  t.ok(ncp.some((n) => n.includes('No count is suppressed and none is below 11')))
  t.ok(ncp.some((n) => n.includes('no zero is shown')))
  const forms = statisticsNotes({
    dimensions: ['exploitationForm'],
    country: undefined,
    minCell: 5,
    period: '2026-Q2',
    withheld: false,
  })
  t.ok(forms.some((n) => n.includes('at least one form in the category')))
  const withheld = statisticsNotes({
    dimensions: ['gender'],
    country: undefined,
    minCell: 11,
    period: '2026-Q2',
    withheld: true,
  })
  t.ok(withheld.some((n) => n.includes('Fewer than 11 referrals (possibly none)')))
})
