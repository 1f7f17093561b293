import { DIMENSIONS, type Dimension } from './stats.dimensions.js'
import { leavesOf, type TreeNode } from './stats.hierarchy.js'

/**
 * A quarter's release: every table that can be asked, computed once from the quarter's referrals,
 * with no count below the threshold anywhere. Pure and deterministic.
 *
 * Nothing is suppressed. Instead each dimension is published at one cut of its public tree
 * (stats.hierarchy.ts): values are merged into groups until every cell of every one- and
 * two-dimension table, in every pair of dimensions, is at least `minCell`. A zero is a small count
 * here too: a combination with no referral is merged like one with three.
 *
 * The cuts are found from the top down. Every dimension starts as one group (`any`); a group is split
 * into its children only if, after the split, every cell of every table the dimension appears in is
 * ≥ minCell; groups are tried breadth-first, one dimension after another in a fixed order, and a
 * refused split is never tried again (later splits only make cells smaller, so it would be refused
 * again). One cut per dimension serves every table, so the same group looks the same everywhere and
 * every table is a sum of the same hidden finer counts.
 *
 * Why a reader cannot pin a finer count between 1 and minCell − 1, even knowing this algorithm: take
 * a value v published only inside a group G. Move every referral's v to another leaf w of G (to one
 * in v's own child of G when it has another, else to any). Every table at the published cuts is
 * unchanged; every split that was tried is decided the same way (G's split is refused again, because
 * either the children's counts are unchanged or v's child is now empty, a zero); so the release is
 * the same, and in that population every count involving v is 0. Moving G's referrals onto v instead
 * makes v's counts equal to G's, which are ≥ minCell. So a count finer than a published cell can be
 * anything from 0 to the published cell; a count at a published cut is published, and ≥ minCell.
 * The test suite checks this with linear and integer programs and by brute force.
 *
 * Fewer than minCell referrals in the quarter (none included): nothing is published but that.
 */

/** One combination of (leaf) values and how many referrals carry it; forms of exploitation are a set. */
export interface FineGroup {
  values: Record<Dimension, readonly string[]>
  count: number
}

export interface Category {
  value: string
  /** The leaves it stands for (itself when it is a leaf). */
  members: string[]
}

export interface ReleaseContent {
  minCell: number
  /** Referrals of the quarter; null when fewer than minCell (then nothing else is published). */
  referrals: number | null
  categories: Record<Dimension, Category[]>
  /** Per dimension, the count of each category (forms: referrals with at least one form in it). */
  ones: Partial<Record<Dimension, number[]>>
  /** Per pair of dimensions `a,b` (a before b in DIMENSIONS), counts by category of a then of b. */
  pairs: Record<string, number[][]>
}

export const pairKey = (a: Dimension, b: Dimension) =>
  DIMENSIONS.indexOf(a) < DIMENSIONS.indexOf(b) ? `${a},${b}` : `${b},${a}`

interface Cut {
  nodes: TreeNode[]
  /** Leaf index → position of the node holding it in `nodes`. */
  position: Int32Array
  leafIndex: Map<string, number>
}

function leafPositions(node: TreeNode, leafIndex: Map<string, number>) {
  return leavesOf(node).map((leaf) => leafIndex.get(leaf)!)
}

function recut(cut: Cut) {
  cut.nodes.forEach((node, position) => {
    for (const leaf of leafPositions(node, cut.leafIndex)) cut.position[leaf] = position
  })
}

const distinct = (values: Iterable<number>) => [...new Set(values)]

export function makeRelease(
  groups: readonly FineGroup[],
  trees: Record<Dimension, TreeNode>,
  minCell: number,
): ReleaseContent {
  if (!Number.isInteger(minCell) || minCell < 1) throw new RangeError('minCell must be an integer ≥ 1')
  const cuts = {} as Record<Dimension, Cut>
  for (const d of DIMENSIONS) {
    const leaves = leavesOf(trees[d])
    const leafIndex = new Map(leaves.map((leaf, i) => [leaf, i]))
    cuts[d] = { nodes: [trees[d]], position: new Int32Array(leaves.length), leafIndex }
  }
  // Each group's leaves per dimension, as indexes (a value outside the tree is a programming error).
  const rows = groups.map((g) => {
    if (!Number.isSafeInteger(g.count) || g.count < 0) throw new RangeError('counts must be integers ≥ 0')
    const leaves = {} as Record<Dimension, number[]>
    for (const d of DIMENSIONS) {
      leaves[d] = distinct(
        g.values[d].map((v) => {
          const i = cuts[d].leafIndex.get(v)
          if (i === undefined) throw new RangeError(`${v} is not a value of ${d}`)
          return i
        }),
      )
      if (leaves[d].length === 0) throw new RangeError(`a group has no value of ${d}`)
    }
    return { leaves, count: g.count }
  })
  const total = rows.reduce((n, r) => n + r.count, 0)
  const at = (d: Dimension, leaves: number[]) =>
    leaves.length === 1 ? [cuts[d].position[leaves[0]!]!] : distinct(leaves.map((l) => cuts[d].position[l]!))

  /** Would every cell of every table with d be ≥ minCell once `node` (at `position`) is split? */
  const splits = (d: Dimension, node: TreeNode): boolean => {
    const children = node.children!
    const childOf = new Map<number, number>()
    children.forEach((child, c) => {
      for (const leaf of leafPositions(child, cuts[d].leafIndex)) childOf.set(leaf, c)
    })
    const ones = new Array<number>(children.length).fill(0)
    const others = DIMENSIONS.filter((e) => e !== d)
    const tables = others.map((e) => children.map(() => new Array<number>(cuts[e].nodes.length).fill(0)))
    for (const row of rows) {
      const cs =
        row.leaves[d].length === 1
          ? childOf.has(row.leaves[d][0]!)
            ? [childOf.get(row.leaves[d][0]!)!]
            : []
          : distinct(row.leaves[d].flatMap((l) => (childOf.has(l) ? [childOf.get(l)!] : [])))
      if (cs.length === 0) continue
      others.forEach((e, k) => {
        const xs = at(e, row.leaves[e])
        for (const c of cs) for (const x of xs) tables[k]![c]![x]! += row.count
      })
      for (const c of cs) ones[c]! += row.count
    }
    return (
      ones.every((n) => n >= minCell) &&
      tables.every((t) => t.every((line) => line.every((n) => n >= minCell)))
    )
  }

  if (total >= minCell) {
    const queues = Object.fromEntries(
      DIMENSIONS.map((d) => [d, [trees[d]].filter((n) => n.children)]),
    ) as Record<Dimension, TreeNode[]>
    while (DIMENSIONS.some((d) => queues[d].length > 0)) {
      for (const d of DIMENSIONS) {
        const node = queues[d].shift()
        if (!node || !splits(d, node)) continue
        const cut = cuts[d]
        cut.nodes.splice(cut.nodes.indexOf(node), 1, ...node.children!)
        recut(cut)
        queues[d].push(...node.children!.filter((child) => child.children))
      }
    }
  }

  const categories = Object.fromEntries(
    DIMENSIONS.map((d) => [d, cuts[d].nodes.map((node) => ({ value: node.value, members: leavesOf(node) }))]),
  ) as Record<Dimension, Category[]>
  if (total < minCell) return { minCell, referrals: null, categories, ones: {}, pairs: {} }

  const ones: Partial<Record<Dimension, number[]>> = {}
  const pairs: Record<string, number[][]> = {}
  for (const [i, a] of DIMENSIONS.entries()) {
    ones[a] = new Array<number>(cuts[a].nodes.length).fill(0)
    for (const b of DIMENSIONS.slice(i + 1)) {
      pairs[pairKey(a, b)] = cuts[a].nodes.map(() => new Array<number>(cuts[b].nodes.length).fill(0))
    }
  }
  for (const row of rows) {
    const positions = Object.fromEntries(DIMENSIONS.map((d) => [d, at(d, row.leaves[d])])) as Record<
      Dimension,
      number[]
    >
    for (const [i, a] of DIMENSIONS.entries()) {
      for (const x of positions[a]) ones[a]![x]! += row.count
      for (const b of DIMENSIONS.slice(i + 1)) {
        const table = pairs[pairKey(a, b)]!
        for (const x of positions[a]) for (const y of positions[b]) table[x]![y]! += row.count
      }
    }
  }
  const published = [...Object.values(ones).flat(), ...Object.values(pairs).flat(2)]
  if (published.some((n) => n < minCell)) throw new Error('a release cell is below minCell')
  return { minCell, referrals: total, categories, ones, pairs }
}
