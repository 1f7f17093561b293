import { minimise } from './simplex.js'

/**
 * An attacker's view of a published table of counts, and three ways of attacking it that share no
 * code with the suppression under test: peeling (a line with one unknown gives it away), linear
 * programming (the range of values a hidden count can take, with two whole-number tables as
 * witnesses) and, for tiny tables, brute-force enumeration.
 */
export interface PublishedTable {
  /** The published count; null when hidden; undefined for a structural zero (not listed). */
  cells: (number | null | undefined)[][]
  /** Row and column totals of a two-way table; absent in a one-way table (one row). */
  rows?: (number | null)[]
  columns?: (number | null)[]
  grand: number | null
}

export type Target =
  | { kind: 'cell'; row: number; column: number }
  | { kind: 'row'; index: number }
  | { kind: 'column'; index: number }
  | { kind: 'grand' }

const hiddenCells = (p: PublishedTable) =>
  p.cells.flatMap((line, r) => line.flatMap((v, c) => (v === null ? [[r, c] as const] : [])))

const lineSum = (p: PublishedTable, inLine: (r: number, c: number) => boolean, filled?: number[][]) =>
  p.cells.reduce(
    (s, line, r) =>
      s + line.reduce<number>((t, v, c) => t + (inLine(r, c) ? (filled?.[r]?.[c] ?? v ?? 0) : 0), 0),
    0,
  )

/** The published totals, each with the cells it sums. */
function constraints(p: PublishedTable) {
  const out: { inLine: (r: number, c: number) => boolean; total: number }[] = []
  p.rows?.forEach((total, index) => {
    if (total !== null) out.push({ inLine: (r) => r === index, total })
  })
  p.columns?.forEach((total, index) => {
    if (total !== null) out.push({ inLine: (_r, c) => c === index, total })
  })
  if (p.grand !== null) out.push({ inLine: () => true, total: p.grand })
  return out
}

const inTarget = (target: Target) => (r: number, c: number) =>
  target.kind === 'cell'
    ? r === target.row && c === target.column
    : target.kind === 'row'
      ? r === target.index
      : target.kind === 'column'
        ? c === target.index
        : true

/** True when the filled table (every listed cell a whole number ≥ 0) agrees with everything published. */
export function consistent(p: PublishedTable, filled: number[][]): boolean {
  const cellsOk = p.cells.every((line, r) =>
    line.every((v, c) => {
      const f = filled[r]![c]!
      if (v === undefined) return f === 0
      return Number.isInteger(f) && f >= 0 && (v === null || v === f)
    }),
  )
  return cellsOk && constraints(p).every(({ inLine, total }) => lineSum(p, inLine, filled) === total)
}

/**
 * The least and greatest value the target can take over every table agreeing with what is published
 * (max Infinity when unbounded), and when they differ two whole-number tables, checked exactly, in
 * which it takes the values min and min + 1. The constraint matrix of a table with margins is totally
 * unimodular, so the linear optimum is a whole number.
 */
export function feasibleRange(p: PublishedTable, target: Target) {
  const vars = hiddenCells(p)
  const rows = constraints(p).map(({ inLine, total }) => ({
    a: vars.map(([r, c]) => (inLine(r, c) ? 1 : 0)),
    b: total - lineSum(p, inLine),
  }))
  const inT = inTarget(target)
  const objective = vars.map(([r, c]) => (inT(r, c) ? 1 : 0))
  const constant = lineSum(p, inT)
  const solve = (c: number[], extra: { a: number[]; b: number }[] = []) =>
    minimise(
      [...rows, ...extra].map((e) => e.a),
      [...rows, ...extra].map((e) => e.b),
      c,
    )
  const fill = (x: number[]) => {
    const filled = p.cells.map((line) => line.map((v) => v ?? 0))
    vars.forEach(([r, c], k) => {
      filled[r]![c] = Math.round(x[k]!)
    })
    return filled
  }
  const low = solve(objective)
  if (low.status !== 'optimal') throw new Error(`the published table is not consistent: ${low.status}`)
  const min = Math.round(low.value) + constant
  const high = solve(objective.map((v) => -v))
  const max =
    high.status === 'unbounded'
      ? Number.POSITIVE_INFINITY
      : -Math.round((high as { value: number }).value) + constant
  if (max === min) return { min, max, witnesses: [] as number[][][] }
  const next = solve(
    vars.map(() => 0),
    [{ a: objective, b: min + 1 - constant }],
  )
  if (next.status !== 'optimal') throw new Error('no table at min + 1 although max > min')
  return { min, max, witnesses: [fill(low.x), fill(next.x)] }
}

/** What a spreadsheet user recovers: repeatedly solve any published sum with a single unknown. */
export function peel(p: PublishedTable): Map<string, number> {
  const known = new Map<string, number>()
  const value = (key: string, published: number | null | undefined) =>
    published === undefined ? 0 : published !== null ? published : known.get(key)
  const cellKeys = p.cells.flatMap((line, r) => line.map((v, c) => ({ key: `cell ${r} ${c}`, v, r, c })))
  // Each equation: terms that sum to zero.
  const equations: { key: string; v: number | null | undefined; sign: number }[][] = []
  if (p.rows && p.columns) {
    p.rows.forEach((total, r) => {
      equations.push([
        ...cellKeys.filter((k) => k.r === r).map((k) => ({ ...k, sign: 1 })),
        { key: `row ${r}`, v: total, sign: -1 },
      ])
    })
    p.columns.forEach((total, c) => {
      equations.push([
        ...cellKeys.filter((k) => k.c === c).map((k) => ({ ...k, sign: 1 })),
        { key: `column ${c}`, v: total, sign: -1 },
      ])
    })
    const grand = { key: 'grand', v: p.grand, sign: -1 }
    equations.push([...p.rows.map((v, r) => ({ key: `row ${r}`, v, sign: 1 })), grand])
    equations.push([...p.columns.map((v, c) => ({ key: `column ${c}`, v, sign: 1 })), grand])
  }
  equations.push([...cellKeys.map((k) => ({ ...k, sign: 1 })), { key: 'grand', v: p.grand, sign: -1 }])
  for (let changed = true; changed; ) {
    changed = false
    for (const terms of equations) {
      const unknown = terms.filter((t) => value(t.key, t.v) === undefined)
      if (unknown.length !== 1) continue
      const rest = terms.reduce((s, t) => s + (t === unknown[0] ? 0 : t.sign * value(t.key, t.v)!), 0)
      known.set(unknown[0]!.key, -rest / unknown[0]!.sign)
      changed = true
    }
  }
  return known
}

/** Every value the target takes over all whole-number tables agreeing with what is published, cells ≤ bound. */
export function enumerateValues(p: PublishedTable, target: Target, bound: number): Set<number> {
  const vars = hiddenCells(p)
  const filled = p.cells.map((line) => line.map((v) => v ?? 0))
  const inT = inTarget(target)
  const seen = new Set<number>()
  const walk = (k: number) => {
    if (k === vars.length) {
      if (consistent(p, filled)) seen.add(lineSum(p, inT, filled))
      return
    }
    const [r, c] = vars[k]!
    for (let v = 0; v <= bound; v += 1) {
      filled[r]![c] = v
      walk(k + 1)
    }
  }
  walk(0)
  return seen
}
