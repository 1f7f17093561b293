import { type Dimension, isCountry } from './stats.dimensions.js'
import { type Category, pairKey, type ReleaseContent } from './stats.release.core.js'

/**
 * A table as a caller sees it: a view of the frozen release, never a new count. Both orders of a
 * pair read the same cells; a national contact point's view keeps the cells of the country group
 * holding its country; totals are sums of the cells shown. So whatever a caller asks, every number
 * it gets is a published cell or a sum of published cells.
 */
export interface ViewCell {
  key: Partial<Record<Dimension, string>>
  count: number
}

export interface TableView {
  cells: ViewCell[]
  rows?: ViewCell[]
  columns?: ViewCell[]
  grand: number | null
}

/** The category of a country dimension that holds `country`, if any. */
export function categoryHolding(release: ReleaseContent, d: Dimension, country: string) {
  return release.categories[d].find((c) => c.members.includes(country))?.value
}

function countsOf(release: ReleaseContent, a: Dimension, b: Dimension | undefined) {
  const along = (d: Dimension) => release.categories[d]
  if (b === undefined) return along(a).map((_, x) => [release.ones[a]![x]!])
  const stored = release.pairs[pairKey(a, b)]!
  const swapped = pairKey(a, b) !== `${a},${b}`
  return along(a).map((_, x) => along(b).map((_, y) => (swapped ? stored[y]![x]! : stored[x]![y]!)))
}

export function tableView(
  release: ReleaseContent,
  dimensions: Dimension[],
  country: string | undefined,
): TableView {
  if (release.referrals === null) return { cells: [], grand: null }
  const [a, b] = dimensions as [Dimension, Dimension | undefined]
  const counts = countsOf(release, a, b)
  const rowsOf: Category[] = release.categories[a]
  const colsOf: (Category | undefined)[] = b ? release.categories[b] : [undefined]
  const inScope = (d: Dimension | undefined, value: string | undefined) =>
    d !== undefined && isCountry(d) && country !== undefined && categoryHolding(release, d, country) === value
  const cells: (ViewCell & { x: number; y: number })[] = []
  rowsOf.forEach((row, x) => {
    colsOf.forEach((col, y) => {
      if (country !== undefined && !inScope(a, row.value) && !inScope(b, col?.value)) return
      const key: ViewCell['key'] = { [a]: row.value }
      if (b && col) key[b] = col.value
      cells.push({ key, count: counts[x]![y]!, x, y })
    })
  })
  const grand = cells.reduce((n, c) => n + c.count, 0)
  const strip = ({ key, count }: ViewCell) => ({ key, count })
  if (!b) return { cells: cells.map(strip), grand }
  const sums = (axis: 'x' | 'y', d: Dimension, categories: Category[]) =>
    categories.flatMap((category, i) => {
      const line = cells.filter((c) => c[axis] === i)
      return line.length === 0
        ? []
        : [{ key: { [d]: category.value }, count: line.reduce((n, c) => n + c.count, 0) }]
    })
  return {
    cells: cells.map(strip),
    rows: sums('x', a, rowsOf),
    columns: sums('y', b, release.categories[b]),
    grand,
  }
}
