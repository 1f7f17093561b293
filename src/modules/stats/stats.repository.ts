import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import type { FineGroup, ReleaseContent } from './stats.release.core.js'

/**
 * The referrals submitted in [start, end), onward referrals left out, by every triage value at once (forms of exploitation as a
 * sorted set): one row per combination that occurs, with how many referrals carry it.
 */
export async function countCombinations(
  db: Kysely<Database>,
  period: { start: Date; end: Date },
): Promise<FineGroup[]> {
  const { rows } = await sql<{
    sender_country: string
    recipient_country: string
    forms: string[]
    age_group: string
    minor: boolean
    gender: string
    urgency: string
    status: string
    n: number
  }>`
    select r.sender_country, r.recipient_country,
      array(select distinct f from unnest(r.exploitation_forms) f order by f) as forms,
      r.age_group, r.minor, r.gender, r.urgency, r.status, count(*)::int as n
    from referrals r
    where r.submitted_at >= ${period.start} and r.submitted_at < ${period.end}
      -- a chain of onward referrals is one case: counted once, by its first referral
      and r.onward_of is null
    group by 1, 2, 3, 4, 5, 6, 7, 8`.execute(db)
  return rows.map((row) => ({
    values: {
      originCountry: [row.sender_country],
      destinationCountry: [row.recipient_country],
      exploitationForm: row.forms,
      ageGroup: [row.age_group],
      minor: [String(row.minor)],
      gender: [row.gender],
      urgency: [row.urgency],
      status: [row.status],
    },
    count: row.n,
  }))
}

/** The countries of the directory's agencies: public, so listing them reveals nothing about referrals. */
export async function listAgencyCountries(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('agencies').select('country').distinct().orderBy('country').execute()
  return rows.map((row) => row.country)
}

export interface ReleaseRow {
  period: string
  release: number
  period_start: Date
  period_end: Date
  min_cell: number
  referrals: number | null
  content: ReleaseContent
  created_at: Date
}

/** Serialises the making of one period's release for the rest of the transaction, across processes. */
export async function lockPeriod(db: Kysely<Database>, period: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`trm-stats-release:${period}:`} || current_schema(), 0))`.execute(
    db,
  )
}

/** The latest release of a period, if one was made. */
export async function findRelease(db: Kysely<Database>, period: string): Promise<ReleaseRow | undefined> {
  const { rows } = await sql<ReleaseRow>`
    select period, release, period_start, period_end, min_cell, referrals, content, created_at
    from stats_releases where period = ${period} order by release desc limit 1`.execute(db)
  return rows[0]
}

export async function insertRelease(
  db: Kysely<Database>,
  row: Omit<ReleaseRow, 'created_at'>,
): Promise<ReleaseRow> {
  const { rows } = await sql<ReleaseRow>`
    insert into stats_releases (period, release, period_start, period_end, min_cell, referrals, content)
    values (${row.period}, ${row.release}, ${row.period_start}, ${row.period_end}, ${row.min_cell},
      ${row.referrals}, ${JSON.stringify(row.content)}::jsonb)
    returning period, release, period_start, period_end, min_cell, referrals, content, created_at`.execute(db)
  return rows[0]!
}
