import type { Dimension } from './stats.dimensions.js'

/** How to read an answer, in the answer itself: what is counted, what is merged and why. */
export function statisticsNotes(query: {
  dimensions: Dimension[]
  country: string | undefined
  minCell: number
  period: string
  withheld: boolean
}): string[] {
  const { dimensions, country, minCell, period } = query
  const [a, b] = dimensions
  const forms = dimensions.includes('exploitationForm')
  const notes = [
    `Referrals submitted in the calendar quarter ${period} (UTC), as released once after it ended; ` +
      'referrals added, changed or erased since do not change this release. status is the state at release time.',
  ]
  if (query.withheld) {
    notes.push(
      `Fewer than ${minCell} referrals (possibly none) were submitted in ${period}: nothing else is published for it.`,
    )
    return notes
  }
  notes.push(
    'Counts come from the triage fields each referral carries in clear: countries of the sending and ' +
      'receiving agencies, forms of exploitation, age group, minor, gender, urgency and status.',
    `No count is suppressed and none is below ${minCell}: values are merged into groups (categories, ` +
      `each with the values it stands for; any is the whole dimension) until every cell of every table of ` +
      `this release is at least ${minCell}. A combination with no referral is merged like a small one, ` +
      'so no zero is shown. Each dimension is merged the same way in every table of the release.',
  )
  if (country) {
    notes.push(
      `Your scope: the cells whose ${dimensions.filter((d) => d === 'originCountry' || d === 'destinationCountry').join(' or ')} ` +
        `is the category holding ${country} (your country). They are the same cells every caller sees.`,
    )
  }
  if (forms) {
    notes.push(
      'exploitationForm counts the referrals with at least one form in the category; a referral with ' +
        'forms in several categories counts once in each, so these counts add up to more than the referrals.',
    )
  }
  notes.push(
    b
      ? `Totals are sums of the cells shown: per ${a} (rows), per ${b} (columns), and the grand total.`
      : 'The grand total is the sum of the cells shown.',
  )
  return notes
}
