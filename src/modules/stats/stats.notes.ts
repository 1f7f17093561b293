import type { Dimension } from './stats.dimensions.js'

/** How to read an answer, in the answer itself: what is counted, what is hidden and why. */
export function statisticsNotes(query: {
  dimensions: Dimension[]
  country: string | undefined
  minCell: number
  from: Date
  to: Date
}): string[] {
  const { dimensions, country, minCell } = query
  const [a, b] = dimensions
  const forms = dimensions.includes('exploitationForm')
  const period = `submitted from ${query.from.toISOString()} (included) to ${query.to.toISOString()} (excluded)`
  const notes = [
    country ? `Referrals sent from or to ${country} (your country), ${period}.` : `All referrals ${period}.`,
    'Counts come from the triage fields each referral carries in clear: countries of the sending and ' +
      'receiving agencies, forms of exploitation, age group, gender, minor, urgency as submitted, and ' +
      'the current status.',
    `A count below ${minCell}, zero included, is suppressed (count null, suppressed true). Further ` +
      `counts are suppressed where needed (secondary suppression) so that no suppressed count below ` +
      `${minCell} can be worked out from the published cells and totals, so a suppressed cell may hold ` +
      'any count.',
    'Every combination of the dimensions’ values is listed, zeros included (suppressed like other small ' +
      'counts), so the listing does not reveal which combinations occur.',
  ]
  if (dimensions.some((d) => d === 'originCountry' || d === 'destinationCountry')) {
    notes.push('Countries are those of the agencies in the directory.')
  }
  if (country && dimensions.includes('originCountry') && dimensions.includes('destinationCountry')) {
    notes.push(`Pairs of countries neither of which is ${country} are outside your scope and not listed.`)
  }
  if (forms) {
    notes.push(
      'A referral with several forms of exploitation counts once under each of its forms, so counts ' +
        'by exploitationForm add up to more than the number of referrals.',
    )
  }
  if (dimensions.includes('month')) {
    notes.push(
      'month is the UTC calendar month of submission (YYYY-MM); the first and last month may be ' +
        'covered only in part.',
    )
  }
  notes.push(
    b
      ? `Totals are sums of cells: one per ${a} (rows), one per ${b} (columns), and the grand total of all ` +
          `cells${forms ? ' (with exploitationForm, referral–form pairs rather than referrals)' : ''}. ` +
          `Totals below ${minCell} are suppressed, and the row and column totals are suppressed exactly ` +
          'as the one-dimension answer for that dimension would suppress them.'
      : `The grand total is the sum of the cells${forms ? ' (referral–form pairs rather than referrals)' : ''}; ` +
          `it is suppressed when below ${minCell}.`,
  )
  notes.push(
    'Suppression protects each answer on its own; answers for overlapping periods can differ by small ' +
      'counts, so every statistics query is recorded in the audit log.',
  )
  return notes
}
