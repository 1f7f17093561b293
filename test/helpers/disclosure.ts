import highsModule, { type Highs } from 'highs'
import { minimise } from './simplex.js'

/**
 * An attacker's view of published statistics as a system of linear equations over the true, finer
 * counts it wants (variables: whole numbers ≥ 0), and two ways of bounding any sum of them that share
 * no code with the release under test: a small dense simplex (test/helpers/simplex.ts) for unit-sized
 * systems, and HiGHS (integer programs) for the attack on a seeded population.
 */
export interface Equation {
  /** Indexes of the variables summed. */
  vars: number[]
  total: number
  /** '=' a published count; '>=' / '<=' what a reader can only bound (forms of exploitation). */
  sense: '=' | '>=' | '<='
}

export interface Range {
  min: number
  max: number
}

/** The criterion: a count between 1 and minCell − 1 may be 0, or may be minCell or more. */
export const safe = (range: Range, minCell: number) => range.min === 0 || range.max >= minCell

/** True when the whole-number assignment agrees with every equation. */
export function consistent(equations: readonly Equation[], x: readonly number[]): boolean {
  return (
    x.every((v) => Number.isInteger(v) && v >= 0) &&
    equations.every((e) => {
      const s = e.vars.reduce((n, i) => n + x[i]!, 0)
      return e.sense === '=' ? s === e.total : e.sense === '>=' ? s >= e.total : s <= e.total
    })
  )
}

/**
 * The least and greatest value of the sum of `target` over every solution of the equations (linear
 * relaxation, dense simplex; only '=' equations), with the two solutions reaching them, rounded.
 */
export function feasibleRange(equations: readonly Equation[], nVars: number, target: readonly number[]) {
  if (equations.some((e) => e.sense !== '=')) throw new Error('the simplex helper takes equations only')
  const A = equations.map((e) => {
    const row = new Array<number>(nVars).fill(0)
    for (const i of e.vars) row[i]! += 1
    return row
  })
  const b = equations.map((e) => e.total)
  const c = new Array<number>(nVars).fill(0)
  for (const i of target) c[i]! += 1
  const low = minimise(A, b, c)
  if (low.status !== 'optimal') throw new Error(`the published counts are not consistent: ${low.status}`)
  const high = minimise(
    A,
    b,
    c.map((v) => -v),
  )
  const max = high.status === 'unbounded' ? Number.POSITIVE_INFINITY : -(high as { value: number }).value
  const round = (x: number[]) => x.map((v) => Math.round(v))
  return {
    min: Math.round(low.value),
    max: Math.round(max),
    witnesses: [round(low.x), high.status === 'optimal' ? round(high.x) : undefined] as const,
  }
}

let highs: Promise<Highs> | undefined
// The package's types are CommonJS while Node loads its ES module, whose default export is the loader.
const highsLoader = highsModule as unknown as () => Promise<Highs>

/** An integer program in CPLEX LP format: variables x0…, the equations, and the target's sum. */
function program(
  direction: 'Minimize' | 'Maximize',
  equations: readonly Equation[],
  nVars: number,
  target: readonly number[],
) {
  const sum = (vars: readonly number[]) => (vars.length === 0 ? '0 x0' : vars.map((i) => `x${i}`).join(' + '))
  const lines = [direction, ` obj: ${sum(target)}`, 'Subject To']
  equations.forEach((e, k) => {
    lines.push(` c${k}: ${sum(e.vars)} ${e.sense} ${e.total}`)
  })
  lines.push('Bounds')
  for (let i = 0; i < nVars; i += 1) lines.push(` x${i} >= 0`)
  lines.push('General', ` ${Array.from({ length: nVars }, (_, i) => `x${i}`).join(' ')}`, 'End')
  return lines.join('\n')
}

/**
 * The range of the target's sum over every whole-number solution (HiGHS, exact integer programs).
 * `stopAtZero`: skip the maximum when the minimum is already 0 (the criterion holds either way).
 */
export async function integerRange(
  equations: readonly Equation[],
  nVars: number,
  target: readonly number[],
  options: { stopAtZero?: boolean } = {},
): Promise<Range> {
  highs ??= highsLoader()
  const solver = await highs
  const solve = (direction: 'Minimize' | 'Maximize') => {
    const result = solver.solve(program(direction, equations, nVars, target), { output_flag: false })
    if (result.Status === 'Unbounded') return Number.POSITIVE_INFINITY
    if (result.Status !== 'Optimal')
      throw new Error(`the published counts are not consistent: ${result.Status}`)
    return Math.round(result.ObjectiveValue)
  }
  const min = solve('Minimize')
  if (min === 0 && options.stopAtZero) return { min, max: Number.NaN }
  return { min, max: solve('Maximize') }
}
