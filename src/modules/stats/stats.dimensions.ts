/** What statistics can be grouped by, and which period is asked: pure parsing of the query. */
export const DIMENSIONS = [
  'originCountry',
  'destinationCountry',
  'exploitationForm',
  'ageGroup',
  'minor',
  'gender',
  'urgency',
  'status',
] as const
export type Dimension = (typeof DIMENSIONS)[number]

export const MAX_DIMENSIONS = 2

export interface QueryProblem {
  pointer: string
  detail: string
}

const isDimension = (name: string): name is Dimension => (DIMENSIONS as readonly string[]).includes(name)

export const isCountry = (d: Dimension) => d === 'originCountry' || d === 'destinationCountry'

/** `a` or `a,b`: one or two known dimensions, none repeated. */
export function parseGroupBy(raw: string): Dimension[] | QueryProblem {
  const fail = (detail: string) => ({ pointer: '/querystring/groupBy', detail })
  const names = raw.split(',').map((name) => name.trim())
  if (names.some((name) => name === '')) return fail('groupBy is a comma-separated list of dimensions.')
  if (names.includes('month')) {
    return fail(
      'month is not a dimension: statistics are released per calendar quarter (period=YYYY-Qn), ' +
        'with no finer time inside a quarter.',
    )
  }
  const unknown = names.filter((name) => !isDimension(name))
  if (unknown.length > 0) {
    return fail(`Unknown dimension ${unknown.join(', ')}; the dimensions are ${DIMENSIONS.join(', ')}.`)
  }
  if (names.length > MAX_DIMENSIONS) return fail(`At most ${MAX_DIMENSIONS} dimensions, not ${names.length}.`)
  if (new Set(names).size !== names.length) return fail('A dimension is named twice.')
  return names as Dimension[]
}

/** A calendar quarter (UTC): the only period statistics are released for. */
export interface Quarter {
  year: number
  quarter: 1 | 2 | 3 | 4
}

/**
 * A quarter's release is made no earlier than this after the quarter ends: a referral's submission
 * time is taken before its statement runs (at most REQUEST_TIMEOUT_MS, 10 s by default, earlier), so
 * a referral of the quarter may still be committing just after midnight. An hour covers that with room.
 */
export const RELEASE_DELAY_MS = 3_600_000

export const quarterName = (q: Quarter) => `${String(q.year).padStart(4, '0')}-Q${q.quarter}`

export function quarterBounds(q: Quarter): { start: Date; end: Date } {
  const start = new Date(Date.UTC(q.year, (q.quarter - 1) * 3, 1))
  start.setUTCFullYear(q.year)
  const end = new Date(Date.UTC(q.year, q.quarter * 3, 1))
  end.setUTCFullYear(q.quarter === 4 ? q.year + 1 : q.year)
  return { start, end }
}

export function quarterOf(date: Date): Quarter {
  return {
    year: date.getUTCFullYear(),
    quarter: (Math.floor(date.getUTCMonth() / 3) + 1) as Quarter['quarter'],
  }
}

const previous = (q: Quarter): Quarter =>
  q.quarter === 1
    ? { year: q.year - 1, quarter: 4 }
    : { year: q.year, quarter: (q.quarter - 1) as Quarter['quarter'] }

/** When a quarter's release can be made: RELEASE_DELAY_MS after it ends. */
export const releasableAt = (q: Quarter) => new Date(quarterBounds(q).end.getTime() + RELEASE_DELAY_MS)

/** The latest quarter whose release can be made at `now`. */
export function latestReleasable(now: Date): Quarter {
  let q = previous(quarterOf(now))
  while (releasableAt(q) > now) q = previous(q)
  return q
}

/**
 * `YYYY-Qn`, a whole calendar quarter that has closed (and whose release delay has passed); without
 * `period`, the latest such quarter. Months, years and open quarters are refused with what to ask.
 */
export function parsePeriod(raw: string | undefined, now: Date): Quarter | QueryProblem {
  if (raw === undefined) return latestReleasable(now)
  const fail = (detail: string) => ({ pointer: '/querystring/period', detail })
  const quarter = /^([0-9]{4})-Q([1-4])$/.exec(raw)
  if (!quarter) {
    const month = /^([0-9]{4})-([0-9]{2})$/.exec(raw)
    if (month && Number(month[2]) >= 1 && Number(month[2]) <= 12) {
      const q = Math.floor((Number(month[2]) - 1) / 3) + 1
      return fail(
        `${raw} is a month: statistics are released per whole calendar quarter only; ${month[1]}-Q${q} is the quarter holding it.`,
      )
    }
    if (/^[0-9]{4}$/.test(raw)) {
      return fail(
        `${raw} is a year: statistics are released per calendar quarter; ask ${raw}-Q1 to ${raw}-Q4.`,
      )
    }
    return fail('period is a calendar quarter, YYYY-Qn (for example 2026-Q1).')
  }
  const q: Quarter = { year: Number(quarter[1]), quarter: Number(quarter[2]) as Quarter['quarter'] }
  if (q.year < 1) return fail('period is a calendar quarter of the years 0001 to 9999.')
  const at = releasableAt(q)
  if (at > now) {
    const { end } = quarterBounds(q)
    const open = end > now
    return fail(
      open
        ? `${raw} has not ended (it ends at ${end.toISOString()}); its release can be asked for from ${at.toISOString()}.`
        : `${raw} ended at ${end.toISOString()}; its release can be asked for from ${at.toISOString()}.`,
    )
  }
  return q
}
