import type { Kysely } from 'kysely'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { suppressOneWay, suppressTwoWay } from './stats.core.js'
import {
  type Dimension,
  type DimensionValue,
  FIXED_VALUES,
  monthCount,
  monthsOf,
  parseGroupBy,
  type QueryProblem,
  resolvePeriod,
} from './stats.dimensions.js'
import { statisticsNotes } from './stats.notes.js'
import * as repo from './stats.repository.js'

/** Largest table answered; a bigger one (months × countries over many years) asks for a shorter period. */
export const MAX_CELLS = 5000

type Key = Partial<Record<Dimension, DimensionValue>>
interface Count {
  count: number | null
  suppressed: boolean
}
export interface StatsCell extends Count {
  key: Key
}
export interface ReferralStatistics {
  groupBy: Dimension[]
  from: string
  to: string
  scope: string
  minCell: number
  cells: StatsCell[]
  totals: { rows?: StatsCell[]; columns?: StatsCell[]; grand: Count }
  notes: string[]
}

export interface StatsDeps {
  db: Kysely<Database>
  minCell: number
  now: () => Date
}

const invalid = (problem: QueryProblem) =>
  new HubError('TRM_VALIDATION', problem.detail, { pointer: problem.pointer })

const shown = (count: number, suppressed: boolean): Count => ({
  count: suppressed ? null : count,
  suppressed,
})

const isCountry = (d: Dimension) => d === 'originCountry' || d === 'destinationCountry'

/** Every value of the dimension: the code list (or directory, or months) plus any other value found. */
function valuesOf(d: Dimension, found: DimensionValue[], countries: string[], months: () => string[]) {
  const base: readonly DimensionValue[] = isCountry(d)
    ? countries
    : d === 'month'
      ? months()
      : FIXED_VALUES[d]!
  const extra = [...new Set(found)].filter((v) => !base.includes(v)).sort()
  return isCountry(d) ? [...base, ...extra].sort() : [...base, ...extra]
}

/**
 * Counts of referrals for a national contact point (those sent from or to its country) or the operator
 * (all), grouped by one or two dimensions, with small-cell suppression (see stats.core.ts).
 */
export async function referralStatistics(
  deps: StatsDeps,
  caller: { id: string; country: string; operator: boolean; nationalContactPoint: boolean },
  query: { groupBy: string; from?: string; to?: string },
  requestId: string,
): Promise<ReferralStatistics> {
  if (!caller.operator && !caller.nationalContactPoint) {
    throw new HubError('TRM_AUTH_FORBIDDEN', 'Statistics are for national contact points and the operator.')
  }
  const dimensions = parseGroupBy(query.groupBy)
  if (!Array.isArray(dimensions)) throw invalid(dimensions)
  const period = resolvePeriod(query, deps.now())
  if ('detail' in period) throw invalid(period)
  const country = caller.operator ? undefined : caller.country

  const countries = dimensions.some(isCountry) ? await repo.listAgencyCountries(deps.db) : []
  const size = (d: Dimension) =>
    isCountry(d)
      ? countries.length
      : d === 'month'
        ? monthCount(period.from, period.to)
        : FIXED_VALUES[d]!.length
  const cellCount = dimensions.reduce((n, d) => n * size(d), 1)
  if (cellCount > MAX_CELLS) {
    throw invalid({
      pointer: dimensions.includes('month') ? '/querystring/from' : '/querystring/groupBy',
      detail: `This table would have ${cellCount} cells, more than ${MAX_CELLS}; ask for a shorter period or other dimensions.`,
    })
  }

  const groups = await repo.countReferrals(deps.db, { dimensions, ...period, country })
  const values = dimensions.map((d, i) =>
    valuesOf(
      d,
      groups.map((g) => g.values[i]!),
      countries,
      () => monthsOf(period.from, period.to),
    ),
  )
  const index = values.map((list) => new Map(list.map((v, k) => [v, k])))
  const counts = values[0]!.map(() => (values[1] ?? [undefined]).map(() => 0))
  for (const group of groups) {
    const r = index[0]!.get(group.values[0]!)!
    const c = dimensions.length === 2 ? index[1]!.get(group.values[1]!)! : 0
    counts[r]![c]! += group.count
  }

  const [a, b] = dimensions as [Dimension, Dimension | undefined]
  const result: ReferralStatistics = {
    groupBy: dimensions,
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    scope: country ?? 'all',
    minCell: deps.minCell,
    cells: [],
    totals: { grand: { count: null, suppressed: true } },
    notes: statisticsNotes({ dimensions, country, minCell: deps.minCell, ...period }),
  }
  if (b === undefined) {
    const s = suppressOneWay(
      counts.map((line) => line[0]!),
      deps.minCell,
    )
    result.cells = values[0]!.map((v, r) => ({ key: { [a]: v }, ...shown(counts[r]![0]!, s.cells[r]!) }))
    result.totals.grand = shown(s.grandTotal, s.grand)
  } else {
    // An NCP's flows all touch its country: other pairs of countries are zero by definition.
    const outside = (r: number, c: number) =>
      country !== undefined &&
      isCountry(a) &&
      isCountry(b) &&
      values[0]![r] !== country &&
      values[1]![c] !== country
    const s = suppressTwoWay(counts, deps.minCell, outside)
    result.cells = values[0]!.flatMap((va, r) =>
      values[1]!.flatMap((vb, c) =>
        outside(r, c) ? [] : [{ key: { [a]: va, [b]: vb }, ...shown(counts[r]![c]!, s.cells[r]![c]!) }],
      ),
    )
    result.totals.rows = values[0]!.map((v, r) => ({
      key: { [a]: v },
      ...shown(s.rowTotals[r]!, s.rows[r]!),
    }))
    result.totals.columns = values[1]!.map((v, c) => ({
      key: { [b]: v },
      ...shown(s.columnTotals[c]!, s.columns[c]!),
    }))
    result.totals.grand = shown(s.grandTotal, s.grand)
  }

  await recordAuditEvent(deps.db, {
    actor: caller.id,
    action: 'stats.queried',
    target: { type: 'statistics', id: 'referrals' },
    requestId,
    outcome: 'success',
    details: { groupBy: dimensions.join(','), from: result.from, to: result.to, scope: result.scope },
  })
  return result
}
