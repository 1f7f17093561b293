import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import {
  type Dimension,
  isCountry,
  latestReleasable,
  parseGroupBy,
  parsePeriod,
  type Quarter,
  type QueryProblem,
  quarterBounds,
  quarterName,
} from './stats.dimensions.js'
import { dimensionTrees } from './stats.hierarchy.js'
import { statisticsNotes } from './stats.notes.js'
import { type Category, makeRelease } from './stats.release.core.js'
import * as repo from './stats.repository.js'
import { type TableView, tableView } from './stats.views.js'

export interface ReferralStatistics {
  period: string
  from: string
  to: string
  release: { number: number; createdAt: string; minCell: number; referrals: number | null }
  groupBy: Dimension[]
  scope: string
  categories: Partial<Record<Dimension, { value: string | boolean; members: (string | boolean)[] }[]>>
  cells: { key: Record<string, string | boolean>; count: number }[]
  totals: { rows?: ReferralStatistics['cells']; columns?: ReferralStatistics['cells']; grand: number | null }
  notes: string[]
}

export interface StatsDeps {
  db: Kysely<Database>
  minCell: number
  now: () => Date
}

const invalid = (problem: QueryProblem) =>
  new HubError('TRM_VALIDATION', problem.detail, { pointer: problem.pointer })

/**
 * The quarter's release, made now if it was not yet: under a transaction-scoped advisory lock, so
 * that of several processes asking at once one makes it and the others read it. Once made it is
 * never changed (the application role cannot update or delete it).
 */
export async function ensureRelease(deps: StatsDeps, quarter: Quarter): Promise<repo.ReleaseRow> {
  const period = quarterName(quarter)
  const found = await repo.findRelease(deps.db, period)
  if (found) return found
  return await deps.db.transaction().execute(async (trx) => {
    await repo.lockPeriod(trx, period)
    const made = await repo.findRelease(trx, period)
    if (made) return made
    const { start, end } = quarterBounds(quarter)
    const combinations = await repo.countCombinations(trx, { start, end })
    // Referrals' countries are their agencies' (never deleted, country fixed), so all are in the
    // directory; joining the two lists only guards against a country the tree would not know.
    const countries = [
      ...(await repo.listAgencyCountries(trx)),
      ...combinations.flatMap((g) => [...g.values.originCountry, ...g.values.destinationCountry]),
    ]
    const content = makeRelease(combinations, dimensionTrees(countries), deps.minCell)
    return await repo.insertRelease(trx, {
      period,
      release: 1,
      period_start: start,
      period_end: end,
      min_cell: deps.minCell,
      referrals: content.referrals,
      content,
    })
  })
}

/** For the maintenance job: the latest quarter that can be released, released if it was not. */
export async function releaseLatestQuarter(deps: StatsDeps) {
  const row = await ensureRelease(deps, latestReleasable(deps.now()))
  return { period: row.period, release: row.release, createdAt: row.created_at.toISOString() }
}

/** Leaves of `minor` are booleans on the wire, as in referrals; its groups (`any`) are strings. */
const wire = (d: Dimension, value: string): string | boolean =>
  d === 'minor' && (value === 'true' || value === 'false') ? value === 'true' : value
const wireKey = (key: Partial<Record<Dimension, string>>) =>
  Object.fromEntries(Object.entries(key).map(([d, v]) => [d, wire(d as Dimension, v!)]))
const wireCells = (cells: TableView['cells'] | undefined) =>
  cells?.map((c) => ({ key: wireKey(c.key), count: c.count }))
const wireCategories = (d: Dimension, categories: Category[]) =>
  categories.map((c) => ({ value: wire(d, c.value), members: c.members.map((m) => wire(d, m)) }))

/**
 * A table of the quarter's release for a national contact point (the cells of the country group
 * holding its country) or the operator (all), by one or two dimensions. Every number is a published
 * cell of the release or a sum of them (stats.views.ts).
 */
export async function referralStatistics(
  deps: StatsDeps,
  caller: { id: string; country: string; operator: boolean; nationalContactPoint: boolean },
  query: { groupBy: string; period?: string },
  requestId: string,
): Promise<ReferralStatistics> {
  if (!caller.operator && !caller.nationalContactPoint) {
    throw new HubError('TRM_AUTH_FORBIDDEN', 'Statistics are for national contact points and the operator.')
  }
  const dimensions = parseGroupBy(query.groupBy)
  if (!Array.isArray(dimensions)) throw invalid(dimensions)
  const country = caller.operator ? undefined : caller.country
  if (country !== undefined && !dimensions.some(isCountry)) {
    throw invalid({
      pointer: '/querystring/groupBy',
      detail:
        'A national contact point sees the cells of its own country: groupBy names originCountry or ' +
        'destinationCountry (for example originCountry,gender and destinationCountry,gender).',
    })
  }
  const quarter = parsePeriod(query.period, deps.now())
  if ('detail' in quarter) throw invalid(quarter)

  const row = await ensureRelease(deps, quarter)
  const view = tableView(row.content, dimensions, country)
  const result: ReferralStatistics = {
    period: row.period,
    from: row.period_start.toISOString(),
    to: row.period_end.toISOString(),
    release: {
      number: row.release,
      createdAt: row.created_at.toISOString(),
      minCell: row.min_cell,
      referrals: row.referrals,
    },
    groupBy: dimensions,
    scope: country ?? 'all',
    categories: Object.fromEntries(dimensions.map((d) => [d, wireCategories(d, row.content.categories[d])])),
    cells: wireCells(view.cells)!,
    totals: { grand: view.grand },
    notes: statisticsNotes({
      dimensions,
      country,
      minCell: row.min_cell,
      period: row.period,
      withheld: row.referrals === null,
    }),
  }
  if (view.rows) result.totals.rows = wireCells(view.rows)!
  if (view.columns) result.totals.columns = wireCells(view.columns)!

  await recordAuditEvent(deps.db, {
    actor: caller.id,
    action: 'stats.queried',
    target: { type: 'statistics', id: 'referrals' },
    requestId,
    outcome: 'success',
    details: { groupBy: dimensions.join(','), period: row.period, release: row.release, scope: result.scope },
  })
  return result
}
