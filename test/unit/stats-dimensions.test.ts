import t from 'tap'
import {
  monthCount,
  monthsOf,
  parseGroupBy,
  resolvePeriod,
} from '../../src/modules/stats/stats.dimensions.js'
import { statisticsNotes } from '../../src/modules/stats/stats.notes.js'

t.test('groupBy: one or two known dimensions, none repeated', async (t) => {
  t.same(parseGroupBy('originCountry'), ['originCountry'])
  t.same(parseGroupBy('month, exploitationForm'), ['month', 'exploitationForm'])
  const refused = ['a', 'gender,gender', 'gender,status,month', 'gender,', ',', 'Gender']
  for (const raw of refused) {
    const problem = parseGroupBy(raw)
    t.match(problem, { pointer: '/querystring/groupBy', detail: String }, raw)
  }
  t.match(parseGroupBy('gender,victimName'), { detail: /Unknown dimension victimName/ })
})

t.test(
  'period: half-open, dates at midnight UTC, defaults to the twelve months up to next month',
  async (t) => {
    const now = new Date('2026-11-22T10:00:00Z')
    t.same(resolvePeriod({ from: '2026-01-01', to: '2026-02-01' }, now), {
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T00:00:00Z'),
    })
    t.same(resolvePeriod({}, now), {
      from: new Date('2025-12-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
    })
    t.same(resolvePeriod({ to: '2026-03-31T22:00:00-02:00' }, now), {
      from: new Date('2025-04-01T00:00:00Z'),
      to: new Date('2026-04-01T00:00:00Z'),
    })
    t.match(resolvePeriod({ from: '2026-02-01', to: '2026-02-01' }, now), { pointer: '/querystring/to' })
    t.match(resolvePeriod({ from: '2027-01-01' }, now), { pointer: '/querystring/from' })
  },
)

t.test('months touched by a period', async (t) => {
  const from = new Date('2025-11-15T00:00:00Z')
  t.same(monthsOf(from, new Date('2026-02-01T00:00:00Z')), ['2025-11', '2025-12', '2026-01'])
  t.same(monthsOf(from, new Date('2026-02-01T00:00:00.001Z')), ['2025-11', '2025-12', '2026-01', '2026-02'])
  t.equal(monthCount(from, new Date('2025-11-15T00:00:01Z')), 1)
  t.equal(monthCount(new Date('1900-01-01'), new Date('2026-01-01')), 1512)
})

t.test('notes say what is counted and what is hidden', async (t) => {
  const period = { from: new Date('2026-01-01'), to: new Date('2026-07-01') }
  const ncp = statisticsNotes({
    dimensions: ['originCountry', 'destinationCountry'],
    country: 'RO',
    minCell: 11,
    ...period,
  })
  t.ok(ncp.some((n) => n.includes('sent from or to RO')))
  t.ok(ncp.some((n) => n.includes('neither of which is RO')))
  t.ok(ncp.some((n) => n.includes('below 11, zero included, is suppressed')))
  const forms = statisticsNotes({
    dimensions: ['exploitationForm', 'month'],
    country: undefined,
    minCell: 5,
    ...period,
  })
  t.ok(forms.some((n) => n.startsWith('All referrals')))
  t.ok(forms.some((n) => n.includes('referral–form pairs')))
  t.ok(forms.some((n) => n.includes('UTC calendar month')))
})
