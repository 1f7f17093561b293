/**
 * A small dense two-phase simplex (Bland's rule), only for tests: minimise c·x subject to A x = b,
 * x ≥ 0. Independent of the code under test, so an attack built on it checks the suppression.
 */
export type LpResult =
  | { status: 'optimal'; value: number; x: number[] }
  | { status: 'infeasible' }
  | { status: 'unbounded' }

const EPS = 1e-9

export function minimise(A: readonly number[][], b: readonly number[], c: readonly number[]): LpResult {
  const m = A.length
  const n = c.length
  const width = n + m + 1
  const rhs = n + m
  // Rows with b < 0 are negated so the artificial basis starts feasible.
  const T = A.map((row, i) => {
    const sign = b[i]! < 0 ? -1 : 1
    const line = new Array<number>(width).fill(0)
    row.forEach((v, j) => {
      line[j] = sign * v
    })
    line[n + i] = 1
    line[rhs] = sign * b[i]!
    return line
  })
  const basis = Array.from({ length: m }, (_, i) => n + i)
  const objective = new Array<number>(width).fill(0)
  T.forEach((line) => {
    for (let j = 0; j < n; j += 1) objective[j]! -= line[j]!
    objective[rhs]! -= line[rhs]!
  })

  const pivot = (row: number, col: number) => {
    const p = T[row]![col]!
    for (let j = 0; j < width; j += 1) T[row]![j]! /= p
    const eliminate = (line: number[]) => {
      const f = line[col]!
      if (Math.abs(f) < EPS) return
      for (let j = 0; j < width; j += 1) line[j]! -= f * T[row]![j]!
    }
    T.forEach((line, i) => {
      if (i !== row) eliminate(line)
    })
    eliminate(objective)
    basis[row] = col
  }

  const run = (allowed: number): 'optimal' | 'unbounded' => {
    for (;;) {
      let col = -1
      for (let j = 0; j < allowed; j += 1) {
        if (objective[j]! < -EPS) {
          col = j
          break
        }
      }
      if (col < 0) return 'optimal'
      let row = -1
      let best = Number.POSITIVE_INFINITY
      T.forEach((line, i) => {
        if (line[col]! <= EPS) return
        const ratio = line[rhs]! / line[col]!
        if (ratio < best - EPS || (Math.abs(ratio - best) <= EPS && basis[i]! < basis[row]!)) {
          best = ratio
          row = i
        }
      })
      if (row < 0) return 'unbounded'
      pivot(row, col)
    }
  }

  run(n + m)
  if (-objective[rhs]! > 1e-7) return { status: 'infeasible' }
  // Drive artificials out of the basis where a real column can take their place.
  basis.forEach((k, i) => {
    if (k < n) return
    const col = T[i]!.findIndex((v, j) => j < n && Math.abs(v) > EPS)
    if (col >= 0) pivot(i, col)
  })
  objective.fill(0)
  c.forEach((v, j) => {
    objective[j] = v
  })
  basis.forEach((k, i) => {
    const ck = k < n ? c[k]! : 0
    if (ck === 0) return
    for (let j = 0; j < width; j += 1) objective[j]! -= ck * T[i]![j]!
  })
  if (run(n) === 'unbounded') return { status: 'unbounded' }
  const x = new Array<number>(n).fill(0)
  basis.forEach((k, i) => {
    if (k < n) x[k] = T[i]![rhs]!
  })
  return { status: 'optimal', value: c.reduce((s, v, j) => s + v * x[j]!, 0), x }
}
