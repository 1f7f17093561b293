import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import type { Dimension, DimensionValue } from './stats.dimensions.js'

/** Each dimension as an expression over `referrals r` (and `f`, one row per form of exploitation). */
const EXPRESSIONS: Record<Dimension, RawBuilder<DimensionValue>> = {
  originCountry: sql`r.sender_country`,
  destinationCountry: sql`r.recipient_country`,
  exploitationForm: sql`f.form`,
  ageGroup: sql`r.age_group`,
  gender: sql`r.gender`,
  minor: sql`r.minor`,
  urgency: sql`r.urgency`,
  status: sql`r.status`,
  // Grouped on the truncated time and formatted once per group (to_char on every row costs a third
  // more). Migration 2026-11-22-04 keeps planner statistics on exactly this expression.
  month: sql`date_trunc('month', r.submitted_at at time zone 'UTC')`,
}

const output = (d: Dimension, i: number) =>
  d === 'month' ? sql`to_char(${sql.ref(`g.d${i}`)}, 'YYYY-MM')` : sql.ref(`g.d${i}`)

export interface GroupCount {
  values: DimensionValue[]
  count: number
}

/**
 * Referrals submitted in [from, to), counted by one or two dimensions in one grouped query; only
 * combinations that occur come back. With `country`, only referrals sent from or to that country.
 * A referral counts once under each of its forms of exploitation when that dimension is asked for.
 */
export async function countReferrals(
  db: Kysely<Database>,
  filter: { dimensions: Dimension[]; from: Date; to: Date; country?: string | undefined },
): Promise<GroupCount[]> {
  const columns = filter.dimensions.map((d, i) => sql`${EXPRESSIONS[d]} as ${sql.ref(`d${i}`)}`)
  const groups = filter.dimensions.map((_, i) => sql.raw(String(i + 1)))
  const forms = filter.dimensions.includes('exploitationForm')
    ? sql`cross join lateral unnest(r.exploitation_forms) as f(form)`
    : sql``
  const scope = filter.country
    ? sql`and (r.sender_country = ${filter.country} or r.recipient_country = ${filter.country})`
    : sql``
  const outputs = filter.dimensions.map((d, i) => sql`${output(d, i)} as ${sql.ref(`d${i}`)}`)
  const { rows } = await sql<Record<string, DimensionValue | number>>`
    select ${sql.join(outputs)}, g.n from (
      select ${sql.join(columns)}, count(*)::int as n
      from referrals r ${forms}
      where r.submitted_at >= ${filter.from} and r.submitted_at < ${filter.to} ${scope}
      group by ${sql.join(groups)}
    ) g`.execute(db)
  return rows.map((row) => ({
    values: filter.dimensions.map((_, i) => row[`d${i}`] as DimensionValue),
    count: row['n'] as number,
  }))
}

/** The countries of the directory's agencies: public, so listing them reveals nothing about referrals. */
export async function listAgencyCountries(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('agencies').select('country').distinct().orderBy('country').execute()
  return rows.map((row) => row.country)
}
