import fc from 'fast-check'
import t from 'tap'
import { DIMENSIONS, type Dimension } from '../../src/modules/stats/stats.dimensions.js'
import { leavesOf, type TreeNode } from '../../src/modules/stats/stats.hierarchy.js'
import {
  type FineGroup,
  makeRelease,
  pairKey,
  type ReleaseContent,
} from '../../src/modules/stats/stats.release.core.js'
import { consistent, type Equation, feasibleRange, safe } from '../helpers/disclosure.js'

// The release core on small invented tables of two dimensions (A = originCountry, B = ageGroup, the
// others a single value): what it publishes, and three attacks that share no code with it.

const A: Dimension = 'originCountry'
const B: Dimension = 'ageGroup'
const tree = (value: string, children?: (TreeNode | string)[]): TreeNode =>
  children ? { value, children: children.map((c) => (typeof c === 'string' ? { value: c } : c)) } : { value }

function trees(a: TreeNode, b: TreeNode): Record<Dimension, TreeNode> {
  const out = Object.fromEntries(DIMENSIONS.map((d) => [d, tree('x')])) as Record<Dimension, TreeNode>
  out[A] = a
  out[B] = b
  return out
}

/** counts[i][j]: referrals with the i-th leaf of A and the j-th leaf of B. */
function groups(counts: number[][], ta: TreeNode, tb: TreeNode): FineGroup[] {
  const la = leavesOf(ta)
  const lb = leavesOf(tb)
  return counts.flatMap((line, i) =>
    line.map((count, j) => {
      const values = Object.fromEntries(DIMENSIONS.map((d) => [d, ['x']])) as unknown as FineGroup['values']
      values[A] = [la[i]!]
      values[B] = [lb[j]!]
      return { values, count }
    }),
  )
}

const release = (counts: number[][], ta: TreeNode, tb: TreeNode, k: number) =>
  makeRelease(groups(counts, ta, tb), trees(ta, tb), k)

/** Every number of the release as an equation over the fine table (variable i * |B| + j). */
function equationsOf(r: ReleaseContent, ta: TreeNode, tb: TreeNode): Equation[] {
  const la = leavesOf(ta)
  const lb = leavesOf(tb)
  if (r.referrals === null) return []
  const rect = (as: string[], bs: string[]) =>
    as.flatMap((a) => bs.map((b) => la.indexOf(a) * lb.length + lb.indexOf(b)))
  const ca = r.categories[A]
  const cb = r.categories[B]
  const table = r.pairs[pairKey(A, B)]!
  return [
    ...ca.flatMap((x, i) =>
      cb.map((y, j) => ({ vars: rect(x.members, y.members), total: table[i]![j]!, sense: '=' as const })),
    ),
    ...ca.map((x, i) => ({ vars: rect(x.members, lb), total: r.ones[A]![i]!, sense: '=' as const })),
    ...cb.map((y, j) => ({ vars: rect(la, y.members), total: r.ones[B]![j]!, sense: '=' as const })),
    { vars: rect(la, lb), total: r.referrals, sense: '=' as const },
  ]
}

/** The fine cells and fine one-way counts, with their true values: what an attacker wants. */
function targets(counts: number[][]) {
  const nb = counts[0]!.length
  const out = counts.flatMap((line, i) =>
    line.map((value, j) => ({ name: `cell ${i},${j}`, vars: [i * nb + j], value })),
  )
  counts.forEach((line, i) => {
    out.push({ name: `A ${i}`, vars: line.map((_, j) => i * nb + j), value: line.reduce((s, v) => s + v, 0) })
  })
  counts[0]!.forEach((_, j) => {
    out.push({
      name: `B ${j}`,
      vars: counts.map((_, i) => i * nb + j),
      value: counts.reduce((s, l) => s + l[j]!, 0),
    })
  })
  return out
}

const TA = tree('any', ['a1', tree('g', ['a2', 'a3'])])
const TB = tree('any', [tree('h', ['b1', 'b2']), 'b3'])

t.test('a release publishes nothing below minCell and merges until it need not', async (t) => {
  const big = [
    [30, 25, 40],
    [20, 22, 31],
    [15, 14, 18],
  ]
  const all = release(big, TA, TB, 11)
  t.same(
    all.categories[A].map((c) => c.value),
    ['a1', 'a2', 'a3'],
  )
  t.same(all.pairs[pairKey(A, B)], big, 'nothing small: every value on its own')
  t.equal(all.referrals, 215)

  const small = [
    [30, 25, 40],
    [20, 3, 31],
    [15, 14, 18],
  ]
  const merged = release(small, TA, TB, 11)
  const published = [...Object.values(merged.ones).flat(), ...Object.values(merged.pairs).flat(2)]
  t.ok(
    published.every((n) => n >= 11),
    'every published count is at least 11',
  )
  t.ok(merged.categories[A].length < 3 || merged.categories[B].length < 3, 'a dimension was merged')
  t.same(merged.categories[A].at(-1)!.members.length >= 1, true)

  const zero = release(
    [
      [30, 25, 40],
      [20, 0, 31],
      [15, 14, 18],
    ],
    TA,
    TB,
    11,
  )
  t.ok(
    Object.values(zero.pairs)
      .flat(2)
      .every((n) => n >= 11),
    'a zero is merged like a small count',
  )

  const few = release([[3, 2, 1]], tree('any', ['a1']), TB, 11)
  t.equal(few.referrals, null, 'fewer than minCell referrals: nothing but that')
  t.same(few.pairs, {})
  t.same(few.ones, {})
  t.throws(() => release([[1]], tree('any', ['a1']), tree('any', ['b1']), 0), RangeError)
  t.throws(() => release([[-1]], tree('any', ['a1']), tree('any', ['b1']), 11), RangeError)
})

t.test('the attack works: it pins what plain small-cell suppression leaves exposed', async (t) => {
  // One row of a table, a small cell hidden alone and the total published: 5 = 55 - 20 - 30.
  const equations: Equation[] = [
    { vars: [0], total: 20, sense: '=' },
    { vars: [2], total: 30, sense: '=' },
    { vars: [0, 1, 2], total: 55, sense: '=' },
  ]
  const range = feasibleRange(equations, 3, [1])
  t.same([range.min, range.max], [5, 5])
  t.notOk(safe(range, 11))
  // The same table with the 20 merged with the 5 (one category): the 5 is anywhere in 0..25.
  const merged = feasibleRange(
    [
      { vars: [0, 1], total: 25, sense: '=' },
      { vars: [2], total: 30, sense: '=' },
      { vars: [0, 1, 2], total: 55, sense: '=' },
    ],
    3,
    [1],
  )
  t.same([merged.min, merged.max], [0, 25])
  t.ok(safe(merged, 11))
})

const count = (k: number) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.integer({ min: 1, max: k - 1 }) },
    { weight: 4, arbitrary: fc.integer({ min: k, max: 4 * k }) },
  )

t.test(
  'property (LP): no fine count between 1 and minCell − 1 is bounded away from both 0 and minCell',
  async (t) => {
    const wide = tree('any', [
      tree('east', ['a1', 'a2', 'a3']),
      tree('west', ['a4', tree('nw', ['a5', 'a6'])]),
    ])
    const ages = tree('any', [
      tree('young', ['b1', 'b2']),
      tree('old', ['b3', tree('older', ['b4', 'b5'])]),
      'b6',
    ])
    let attacked = 0
    await fc.assert(
      fc.property(
        fc
          .constantFrom(3, 5, 11)
          .chain((k) =>
            fc.tuple(
              fc.constant(k),
              fc.array(fc.array(count(k), { minLength: 6, maxLength: 6 }), { minLength: 6, maxLength: 6 }),
            ),
          ),
        ([k, counts]) => {
          const r = release(counts, wide, ages, k)
          const published = [...Object.values(r.ones).flat(), ...Object.values(r.pairs).flat(2)]
          if (published.some((n) => n < k)) t.fail(`published below ${k}`)
          const equations = equationsOf(r, wide, ages)
          if (equations.length === 0) return
          const truth = counts.flat()
          if (!consistent(equations, truth)) t.fail('the true table does not agree with the release')
          for (const target of targets(counts)) {
            if (target.value < 1 || target.value >= k) continue
            attacked += 1
            const range = feasibleRange(equations, truth.length, target.vars)
            if (!safe(range, k)) t.fail(`${target.name} (${target.value}) lies in ${range.min}..${range.max}`)
            for (const w of range.witnesses) if (w && !consistent(equations, w)) t.fail('a witness is wrong')
          }
        },
      ),
      { numRuns: 80, seed: 20261203 },
    )
    t.ok(attacked > 800, `${attacked} small fine counts attacked, none bounded`)
  },
)

t.test(
  'brute force knowing the algorithm: every population giving the same release, and what a small count can be there',
  async (t) => {
    // A has three values (a2 and a3 under one group), B two: every 3×2 table with the release's
    // total is run through makeRelease; those giving the identical release are what a reader who
    // knows the algorithm cannot tell apart.
    const k = 3
    const tb = tree('any', ['b1', 'b2'])
    const rows = (flat: number[]) => [flat.slice(0, 2), flat.slice(2, 4), flat.slice(4, 6)]
    const releases = new Map<number, { flat: number[]; release: string }[]>()
    const alikeOf = (total: number) => {
      if (!releases.has(total)) {
        const out: { flat: number[]; release: string }[] = []
        const walk = (prefix: number[], left: number) => {
          if (prefix.length === 5) {
            const flat = [...prefix, left]
            out.push({ flat, release: JSON.stringify(release(rows(flat), TA, tb, k)) })
            return
          }
          for (let v = 0; v <= left; v += 1) walk([...prefix, v], left - v)
        }
        walk([], total)
        releases.set(total, out)
      }
      return releases.get(total)!
    }
    let attacked = 0
    await fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 6, maxLength: 6 }), (flat) => {
        const counts = rows(flat)
        const observed = JSON.stringify(release(counts, TA, tb, k))
        const alike = alikeOf(flat.reduce((a, b) => a + b, 0)).filter((c) => c.release === observed)
        if (!alike.some((c) => String(c.flat) === String(flat))) t.fail('the true table is not among them')
        for (const target of targets(counts)) {
          if (target.value < 1 || target.value >= k) continue
          attacked += 1
          const values = new Set(alike.map((c) => target.vars.reduce((s, i) => s + c.flat[i]!, 0)))
          const range = { min: Math.min(...values), max: Math.max(...values) }
          if (!safe(range, k)) {
            t.fail(
              `${target.name} (${target.value}) takes only ${[...values].sort().join(', ')}: ${JSON.stringify(counts)}`,
            )
          }
        }
      }),
      { numRuns: 200, seed: 7 },
    )
    t.ok(attacked > 300, `${attacked} small counts attacked by enumeration, none pinned or bounded`)
  },
)

t.test(
  'forms of exploitation: a referral counts once per category, and the release is the same after moving a form within it',
  async (t) => {
    const forms = tree('any', ['f1', tree('g', ['f2', 'f3'])])
    const ages = tree('any', ['b1', 'b2'])
    const make = (rows: { forms: string[]; age: string; n: number }[]) => {
      const all = Object.fromEntries(DIMENSIONS.map((d) => [d, tree('x')])) as Record<Dimension, TreeNode>
      all.exploitationForm = forms
      all.ageGroup = ages
      return makeRelease(
        rows.map(({ forms: f, age, n }) => {
          const values = Object.fromEntries(
            DIMENSIONS.map((d) => [d, ['x']]),
          ) as unknown as FineGroup['values']
          values.exploitationForm = f
          values.ageGroup = [age]
          return { values, count: n }
        }),
        all,
        3,
      )
    }
    const r = make([
      { forms: ['f1'], age: 'b1', n: 5 },
      { forms: ['f1'], age: 'b2', n: 4 },
      { forms: ['f2', 'f3'], age: 'b1', n: 1 },
      { forms: ['f3'], age: 'b2', n: 6 },
    ])
    const g = r.categories.exploitationForm.findIndex((c) => c.value === 'g')
    t.ok(g >= 0, 'f2 and f3 are merged (one referral has f2)')
    t.equal(
      r.ones.exploitationForm![g],
      7,
      'referrals with a form in g: 1 + 6, the one with both counted once',
    )
    const moved = make([
      { forms: ['f1'], age: 'b1', n: 5 },
      { forms: ['f1'], age: 'b2', n: 4 },
      { forms: ['f3'], age: 'b1', n: 1 },
      { forms: ['f3'], age: 'b2', n: 6 },
    ])
    t.same(moved, r, 'every f2 moved to f3 (so no referral has f2): the same release')
  },
)
