/**
 * Small-cell suppression of one- and two-way tables of counts: pure, deterministic, exact.
 *
 * What a reader is assumed to know (the usual model of statistical disclosure control): every
 * published cell and total exactly; that a hidden cell is a whole number ≥ 0 (zeros are hidden like
 * any other small count, so a hidden cell is not known to be ≥ 1); that totals are sums of cells.
 * A count n is sensitive when 1 ≤ n < minCell. A table is safe when no hidden sensitive count,
 * cell or total, has only one value consistent with everything published.
 *
 * The audit is exact. Cells and totals are the arcs of a flow network: cell (r, c) is an arc from
 * row r to column c, row totals arcs from a row hub, column totals arcs into a column hub, the grand
 * total an arc from the column hub back to the row hub; every node balances. Two tables agreeing with
 * everything published differ by a circulation on the hidden arcs, which splits into cycles that each
 * keep the cells ≥ 0 (conformal decomposition). So a hidden count can take another whole value iff its
 * arc lies on a cycle of the residual graph, where a hidden arc can always grow and can shrink when its
 * count is ≥ 1. When a sensitive count is exposed, the cheapest path closing such a cycle through
 * published cells (cost: their counts) is hidden too. Hiding only ever adds arcs, so an item once safe
 * stays safe and one pass over the sensitive items suffices.
 */

export interface OneWaySuppression {
  /** true where the cell is hidden */
  cells: boolean[]
  grand: boolean
  grandTotal: number
}

export interface TwoWaySuppression {
  cells: boolean[][]
  rows: boolean[]
  columns: boolean[]
  grand: boolean
  rowTotals: number[]
  columnTotals: number[]
  grandTotal: number
}

interface Table {
  nRows: number
  nCols: number
  /** Row-major counts. */
  counts: number[]
  /** false: a structural zero everyone knows of, not a cell of the table. */
  listed: boolean[]
  hidden: boolean[]
  rowTotals: number[]
  colTotals: number[]
  grandTotal: number
  rowHidden: boolean[]
  colHidden: boolean[]
  grandHidden: boolean
}

interface Arc {
  from: number
  to: number
}

/** The residual graph of the hidden arcs: forward always, backward when the count can shrink. */
class Residual {
  readonly out: { to: number; arc: number }[][]
  private size = 0

  constructor(nodes: number) {
    this.out = Array.from({ length: nodes }, () => [])
  }

  add(from: number, to: number, shrinkable: boolean): Arc & { id: number; shrinkable: boolean } {
    const id = this.size++
    this.out[from]!.push({ to, arc: id })
    if (shrinkable) this.out[to]!.push({ to: from, arc: id })
    return { id, from, to, shrinkable }
  }

  reaches(start: number, goal: number, skipArc: number): boolean {
    const seen = new Uint8Array(this.out.length)
    const stack = [start]
    seen[start] = 1
    while (stack.length > 0) {
      const node = stack.pop()!
      if (node === goal) return true
      for (const { to, arc } of this.out[node]!) {
        if (arc === skipArc || seen[to]) continue
        seen[to] = 1
        stack.push(to)
      }
    }
    return false
  }
}

type Item = Arc & { id: number; shrinkable: boolean }

const exposed = (graph: Residual, item: Item) =>
  !graph.reaches(item.to, item.from, item.id) &&
  !(item.shrinkable && graph.reaches(item.from, item.to, item.id))

/**
 * The published cells whose hiding closes a residual path start → goal at the least total count
 * (Dijkstra; hidden arcs cost nothing), or undefined when no such path exists.
 */
function cheapestPath(t: Table, graph: Residual, start: number, goal: number, skipArc: number) {
  const nodes = graph.out.length
  const dist = new Array<number>(nodes).fill(Number.POSITIVE_INFINITY)
  const via = new Array<{ node: number; cell: number } | undefined>(nodes)
  const done = new Uint8Array(nodes)
  dist[start] = 0
  for (;;) {
    let u = -1
    for (let n = 0; n < nodes; n += 1) if (!done[n] && dist[n]! < (u < 0 ? Infinity : dist[u]!)) u = n
    if (u < 0) return undefined
    if (u === goal) break
    done[u] = 1
    const relax = (to: number, cost: number, cell: number) => {
      if (dist[u]! + cost < dist[to]!) {
        dist[to] = dist[u]! + cost
        via[to] = { node: u, cell }
      }
    }
    for (const { to, arc } of graph.out[u]!) if (arc !== skipArc) relax(to, 0, -1)
    if (u < t.nRows) {
      for (let c = 0; c < t.nCols; c += 1) {
        const i = u * t.nCols + c
        if (t.listed[i] && !t.hidden[i]) relax(t.nRows + c, t.counts[i]!, i)
      }
    } else if (u < t.nRows + t.nCols) {
      const c = u - t.nRows
      for (let r = 0; r < t.nRows; r += 1) {
        const i = r * t.nCols + c
        if (t.listed[i] && !t.hidden[i] && t.counts[i]! >= 1) relax(r, t.counts[i]!, i)
      }
    }
  }
  const cells: number[] = []
  for (let node = goal; node !== start; node = via[node]!.node) {
    if (via[node]!.cell >= 0) cells.push(via[node]!.cell)
  }
  return { cost: dist[goal]!, cells }
}

/** Hides further cells until no sensitive hidden count is exposed (see the file comment). */
function protect(t: Table, minCell: number, oneWay: boolean): void {
  const rowHub = t.nRows + t.nCols
  const colHub = rowHub + 1
  const graph = new Residual(colHub + 1)
  const sensitive = (n: number) => n >= 1 && n < minCell
  const items: Item[] = []
  const cellArc = (i: number) =>
    graph.add(Math.floor(i / t.nCols), t.nRows + (i % t.nCols), t.counts[i]! >= 1)

  if (t.grandHidden) {
    const arc = graph.add(colHub, rowHub, true)
    if (sensitive(t.grandTotal)) items.push(arc)
  }
  t.rowHidden.forEach((hidden, r) => {
    if (!hidden) return
    const arc = graph.add(rowHub, r, true)
    if (!oneWay && sensitive(t.rowTotals[r]!)) items.push(arc)
  })
  t.colHidden.forEach((hidden, c) => {
    if (!hidden) return
    const arc = graph.add(t.nRows + c, colHub, true)
    if (!oneWay && sensitive(t.colTotals[c]!)) items.push(arc)
  })
  t.counts.forEach((count, i) => {
    if (!t.listed[i] || !t.hidden[i]) return
    const arc = cellArc(i)
    if (sensitive(count)) items.push(arc)
  })

  for (const item of items) {
    if (!exposed(graph, item)) continue
    const grow = cheapestPath(t, graph, item.to, item.from, item.id)
    const shrink = item.shrinkable ? cheapestPath(t, graph, item.from, item.to, item.id) : undefined
    const path = !shrink || (grow && grow.cost <= shrink.cost) ? grow : shrink
    if (!path) {
      // Only structural zeros can leave no way out: withhold the whole table rather than expose a count.
      t.hidden.fill(true)
      t.rowHidden.fill(true)
      t.colHidden.fill(true)
      t.grandHidden = true
      return
    }
    for (const cell of path.cells) {
      t.hidden[cell] = true
      cellArc(cell)
    }
  }
}

function checkCounts(counts: readonly number[], minCell: number) {
  if (!Number.isInteger(minCell) || minCell < 1) throw new RangeError('minCell must be an integer ≥ 1')
  for (const n of counts) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('counts must be integers ≥ 0')
  }
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0)

/** A one-way table (the cells and their grand total): which to hide. */
export function suppressOneWay(counts: readonly number[], minCell: number): OneWaySuppression {
  checkCounts(counts, minCell)
  const grandTotal = sum(counts)
  const t: Table = {
    nRows: 1,
    nCols: counts.length,
    counts: [...counts],
    listed: counts.map(() => true),
    hidden: counts.map((n) => n < minCell),
    rowTotals: [grandTotal],
    colTotals: [...counts],
    grandTotal,
    // The single row total is the grand total, and column totals are the cells themselves: neither
    // is published on its own, so they are free arcs of the network.
    rowHidden: [true],
    colHidden: counts.map(() => true),
    grandHidden: grandTotal < minCell,
  }
  protect(t, minCell, true)
  return { cells: t.hidden, grand: t.grandHidden, grandTotal }
}

/**
 * A two-way table with row, column and grand totals. Row and column totals are first suppressed as
 * the one-way table of that dimension would be (so the two answers agree on every total), then
 * cells are hidden until the audit passes. `structural` names cells known to be zero by definition
 * (they must be 0); they are not part of the table.
 */
export function suppressTwoWay(
  counts: readonly (readonly number[])[],
  minCell: number,
  structural: (row: number, column: number) => boolean = () => false,
): TwoWaySuppression {
  const nRows = counts.length
  const nCols = counts[0]?.length ?? 0
  if (counts.some((row) => row.length !== nCols)) throw new RangeError('rows must have the same length')
  const flat = counts.flat()
  checkCounts(flat, minCell)
  const listed = flat.map((_, i) => !structural(Math.floor(i / nCols), i % nCols))
  if (flat.some((n, i) => !listed[i] && n !== 0)) throw new RangeError('a structural zero holds a count')
  const rowTotals = counts.map((row) => sum(row))
  const colTotals = Array.from({ length: nCols }, (_, c) => sum(counts.map((row) => row[c]!)))
  const grandTotal = sum(rowTotals)
  const t: Table = {
    nRows,
    nCols,
    counts: flat,
    listed,
    hidden: flat.map((n, i) => listed[i]! && n < minCell),
    rowTotals,
    colTotals,
    grandTotal,
    rowHidden: suppressOneWay(rowTotals, minCell).cells,
    colHidden: suppressOneWay(colTotals, minCell).cells,
    grandHidden: grandTotal < minCell,
  }
  protect(t, minCell, false)
  return {
    cells: counts.map((_, r) =>
      t.hidden.slice(r * nCols, (r + 1) * nCols).map((h, c) => h && listed[r * nCols + c]!),
    ),
    rows: t.rowHidden,
    columns: t.colHidden,
    grand: t.grandHidden,
    rowTotals,
    columnTotals: colTotals,
    grandTotal,
  }
}
