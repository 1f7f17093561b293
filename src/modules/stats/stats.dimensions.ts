import { REFERRAL_STATUSES } from '../referrals/lifecycle.core.js'
import { AGE_GROUPS, EXPLOITATION_FORMS, GENDERS, URGENCIES } from '../referrals/referral-document.schema.js'

/** What statistics can be grouped by: pure parsing of the query and the values of each dimension. */
export const DIMENSIONS = [
  'originCountry',
  'destinationCountry',
  'exploitationForm',
  'ageGroup',
  'gender',
  'minor',
  'urgency',
  'status',
  'month',
] as const
export type Dimension = (typeof DIMENSIONS)[number]
export type DimensionValue = string | boolean

export const MAX_DIMENSIONS = 2

/** Every value a dimension can take when that is fixed by the code lists; countries and months are not. */
export const FIXED_VALUES: Partial<Record<Dimension, readonly DimensionValue[]>> = {
  exploitationForm: EXPLOITATION_FORMS,
  ageGroup: AGE_GROUPS,
  gender: GENDERS,
  minor: [false, true],
  urgency: URGENCIES,
  status: REFERRAL_STATUSES,
}

export interface QueryProblem {
  pointer: string
  detail: string
}

const isDimension = (name: string): name is Dimension => (DIMENSIONS as readonly string[]).includes(name)

/** `a` or `a,b`: one or two known dimensions, none repeated. */
export function parseGroupBy(raw: string): Dimension[] | QueryProblem {
  const fail = (detail: string) => ({ pointer: '/querystring/groupBy', detail })
  const names = raw.split(',').map((name) => name.trim())
  if (names.some((name) => name === '')) return fail('groupBy is a comma-separated list of dimensions.')
  const unknown = names.filter((name) => !isDimension(name))
  if (unknown.length > 0) {
    return fail(`Unknown dimension ${unknown.join(', ')}; the dimensions are ${DIMENSIONS.join(', ')}.`)
  }
  if (names.length > MAX_DIMENSIONS) return fail(`At most ${MAX_DIMENSIONS} dimensions, not ${names.length}.`)
  if (new Set(names).size !== names.length) return fail('A dimension is named twice.')
  return names as Dimension[]
}

/** A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time; the schema has checked the syntax. */
const instant = (value: string) => new Date(value)

function startOfNextUtcMonth(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
}

function monthsBefore(date: Date, months: number): Date {
  const earlier = new Date(date)
  earlier.setUTCMonth(earlier.getUTCMonth() - months)
  return earlier
}

/**
 * The half-open period [from, to). Without `to`, it ends at the start of next month (UTC); without
 * `from`, it starts twelve months before `to`.
 */
export function resolvePeriod(
  query: { from?: string; to?: string },
  now: Date,
): { from: Date; to: Date } | QueryProblem {
  const to = query.to !== undefined ? instant(query.to) : startOfNextUtcMonth(now)
  const from = query.from !== undefined ? instant(query.from) : monthsBefore(to, 12)
  if (Number.isNaN(to.getTime())) return { pointer: '/querystring/to', detail: 'to is not a valid time.' }
  if (Number.isNaN(from.getTime()))
    return { pointer: '/querystring/from', detail: 'from is not a valid time.' }
  if (to <= from) {
    return {
      pointer: query.to !== undefined ? '/querystring/to' : '/querystring/from',
      detail: `to (${to.toISOString()}) must be later than from (${from.toISOString()}); the period is [from, to).`,
    }
  }
  return { from, to }
}

const monthIndex = (date: Date) => date.getUTCFullYear() * 12 + date.getUTCMonth()

/** How many calendar months (UTC) the period [from, to) touches. */
export function monthCount(from: Date, to: Date): number {
  return monthIndex(new Date(to.getTime() - 1)) - monthIndex(from) + 1
}

/** The calendar months (UTC, `YYYY-MM`) the period [from, to) touches, in order. */
export function monthsOf(from: Date, to: Date): string[] {
  const first = monthIndex(from)
  return Array.from({ length: monthCount(from, to) }, (_, k) => {
    const index = first + k
    return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`
  })
}
