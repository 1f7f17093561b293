import fc from 'fast-check'
import t from 'tap'
import { suppressOneWay, suppressTwoWay, type TwoWaySuppression } from '../../src/modules/stats/stats.core.js'
import {
  consistent,
  enumerateValues,
  feasibleRange,
  type PublishedTable,
  peel,
  type Target,
} from '../helpers/disclosure.js'

type Structural = (r: number, c: number) => boolean
const none: Structural = () => false

function publishTwoWay(counts: number[][], s: TwoWaySuppression, structural = none): PublishedTable {
  return {
    cells: counts.map((line, r) =>
      line.map((v, c) => (structural(r, c) ? undefined : s.cells[r]![c] ? null : v)),
    ),
    rows: s.rowTotals.map((v, r) => (s.rows[r] ? null : v)),
    columns: s.columnTotals.map((v, c) => (s.columns[c] ? null : v)),
    grand: s.grand ? null : s.grandTotal,
  }
}

function publishOneWay(counts: number[], minCell: number): PublishedTable {
  const s = suppressOneWay(counts, minCell)
  return { cells: [counts.map((v, i) => (s.cells[i] ? null : v))], grand: s.grand ? null : s.grandTotal }
}

/** Every hidden count n with 1 ≤ n < minCell, as a target with its true value. */
function sensitiveTargets(counts: number[][], p: PublishedTable, minCell: number) {
  const small = (n: number) => n >= 1 && n < minCell
  const targets: { target: Target; value: number; name: string }[] = []
  counts.forEach((line, r) => {
    line.forEach((v, c) => {
      if (p.cells[r]![c] === null && small(v)) {
        targets.push({ target: { kind: 'cell', row: r, column: c }, value: v, name: `cell ${r} ${c}` })
      }
    })
  })
  const rowTotals = counts.map((line) => line.reduce((a, b) => a + b, 0))
  const colTotals = (counts[0] ?? []).map((_, c) => counts.reduce((a, line) => a + line[c]!, 0))
  p.rows?.forEach((v, r) => {
    if (v === null && small(rowTotals[r]!)) {
      targets.push({ target: { kind: 'row', index: r }, value: rowTotals[r]!, name: `row ${r}` })
    }
  })
  p.columns?.forEach((v, c) => {
    if (v === null && small(colTotals[c]!)) {
      targets.push({ target: { kind: 'column', index: c }, value: colTotals[c]!, name: `column ${c}` })
    }
  })
  const grand = rowTotals.reduce((a, b) => a + b, 0)
  if (p.grand === null && small(grand))
    targets.push({ target: { kind: 'grand' }, value: grand, name: 'grand' })
  return targets
}

/** The attack: no sensitive hidden count has a single possible value, with two witness tables each. */
function assertProtected(t: Tap, counts: number[][], p: PublishedTable, minCell: number) {
  for (const { target, value, name } of sensitiveTargets(counts, p, minCell)) {
    const range = feasibleRange(p, target)
    if (range.max <= range.min) {
      t.fail(`${name} (${value}) is determined: ${JSON.stringify(p)}`)
      continue
    }
    const [a, b] = range.witnesses
    if (!a || !b || !consistent(p, a) || !consistent(p, b)) t.fail(`${name}: a witness table is inconsistent`)
    t.ok(range.min <= value && value <= range.max, `${name}: the true value lies in the range`)
  }
  const recovered = peel(p)
  const sensitiveNames = new Set(sensitiveTargets(counts, p, minCell).map((s) => s.name))
  for (const key of recovered.keys()) {
    if (sensitiveNames.has(key)) t.fail(`peeling recovers ${key}`)
  }
}
type Tap = Pick<typeof t, 'fail' | 'ok'>

/** Published counts are never below the threshold, and totals are sums of cells. */
function assertPublishedLarge(t: Tap, p: PublishedTable, minCell: number) {
  const published = [...p.cells.flat(), ...(p.rows ?? []), ...(p.columns ?? []), p.grand].filter(
    (v): v is number => typeof v === 'number',
  )
  const small = published.filter((v) => v < minCell)
  if (small.length > 0) t.fail(`published below ${minCell}: ${small.join(', ')}`)
}

t.test('one-way: primary suppression, one secondary when one cell alone is hidden', async (t) => {
  t.same(suppressOneWay([20, 5, 30, 3], 11), {
    cells: [false, true, false, true],
    grand: false,
    grandTotal: 58,
  })
  t.same(suppressOneWay([20, 5, 30], 11).cells, [true, true, false], 'the smallest other cell (20) goes too')
  t.same(
    suppressOneWay([40, 12, 30, 11], 11).cells,
    [false, false, false, false],
    'nothing small, nothing hidden',
  )
  t.same(
    suppressOneWay([3, 4], 11),
    { cells: [true, true], grand: true, grandTotal: 7 },
    'a small total is hidden',
  )
  t.same(suppressOneWay([0, 0, 25], 11).cells, [true, true, false], 'zeros are hidden like any small count')
  t.same(suppressOneWay([], 11), { cells: [], grand: true, grandTotal: 0 })
  t.same(suppressOneWay([2, 10], 1).cells, [false, false], 'minCell 1 hides only zeros')
})

t.test('the attacks work: they recover what primary suppression alone would leave exposed', async (t) => {
  const primaryOnly: PublishedTable = { cells: [[20, null, 30]], grand: 55 }
  t.equal(peel(primaryOnly).get('cell 0 1'), 5, 'peeling gives the lone hidden cell away')
  t.same(feasibleRange(primaryOnly, { kind: 'cell', row: 0, column: 1 }), { min: 5, max: 5, witnesses: [] })
  t.same([...enumerateValues(primaryOnly, { kind: 'cell', row: 0, column: 1 }, 60)], [5])
  const safe = publishOneWay([20, 5, 30], 11)
  t.same(safe.cells, [[null, null, 30]])
  t.same(feasibleRange(safe, { kind: 'cell', row: 0, column: 1 }).max, 25)
  t.equal(peel(safe).size, 0)
})

t.test('one-way: a zero-free line of ones cannot be pinned down because zeros are hidden too', async (t) => {
  const ones = new Array<number>(12).fill(1)
  const p = publishOneWay(ones, 11)
  t.equal(p.grand, 12, 'the total of 12 is published')
  t.ok(
    p.cells[0]!.every((v) => v === null),
    'every cell hidden',
  )
  t.same(feasibleRange(p, { kind: 'cell', row: 0, column: 0 }).max, 12, 'a cell can be anything in 0..12')
  // Were absent combinations known to be zero (hidden cells ≥ 1), the same table would give every cell away.
  const naive = feasibleRange({ ...p, grand: 12 - 12 }, { kind: 'cell', row: 0, column: 0 })
  t.equal(naive.max, 0, 'the equivalent system with every cell shifted by its lower bound 1 has one solution')
})

t.test(
  'two-way: a bridge between hidden blocks is found although every line has two hidden cells',
  async (t) => {
    const L = 50
    const counts = [
      [3, 4, L, L],
      [5, 6, 7, L],
      [L, L, 2, 8],
      [L, L, 9, 1],
    ]
    const primaryOnly: PublishedTable = {
      cells: counts.map((line) => line.map((v) => (v < 11 ? null : v))),
      rows: counts.map((line) => line.reduce((a, b) => a + b, 0)),
      columns: counts[0]!.map((_, c) => counts.reduce((a, line) => a + line[c]!, 0)),
      grand: counts.flat().reduce((a, b) => a + b, 0),
    }
    const exposed = feasibleRange(primaryOnly, { kind: 'cell', row: 1, column: 2 })
    t.same([exposed.min, exposed.max], [7, 7], 'with the classic two-per-line rule the 7 is given away')
    const s = suppressTwoWay(counts, 11)
    t.equal(s.cells.flat().filter(Boolean).length, 10, 'one secondary cell closes the cycle')
    assertProtected(t, counts, publishTwoWay(counts, s), 11)
  },
)

t.test('two-way: totals are suppressed as the one-way table of that dimension would be', async (t) => {
  const counts = [
    [30, 2, 0],
    [25, 14, 1],
    [3, 0, 2],
  ]
  const s = suppressTwoWay(counts, 11)
  t.same(s.rowTotals, [32, 40, 5])
  t.same(s.columnTotals, [58, 16, 3])
  t.equal(s.grandTotal, 77)
  t.same(s.rows, suppressOneWay(s.rowTotals, 11).cells)
  t.same(s.columns, suppressOneWay(s.columnTotals, 11).cells)
  t.same(s.rows, [true, false, true], 'row 2 (5) and, to protect it, row 0 (32)')
  t.notOk(s.grand)
  assertProtected(t, counts, publishTwoWay(counts, s), 11)
})

t.test('two-way: structural zeros are not cells; a table that cannot be protected is withheld', async (t) => {
  // Flows touching one country (index 0): the other pairs of countries are zero by definition.
  const touching: Structural = (r, c) => r !== 0 && c !== 0
  const counts = [
    [12, 40, 3, 25],
    [30, 0, 0, 0],
    [4, 0, 0, 0],
    [22, 0, 0, 0],
  ]
  const s = suppressTwoWay(counts, 11, touching)
  t.ok(
    s.cells.every((line, r) => line.every((hidden, c) => !(hidden && touching(r, c)))),
    'structural zeros are never reported as hidden cells',
  )
  assertProtected(t, counts, publishTwoWay(counts, s, touching), 11)
  t.throws(() => suppressTwoWay([[1, 2]], 11, () => true), RangeError, 'a structural zero must be zero')

  // Three blocks with nothing between them: the hidden row total (20) that protects the 5 sits in
  // one block, the hidden column total (12) in another, so no hidden cell can close a cycle through
  // the 5 and only withholding the whole table protects it.
  const blocks = [
    [5, 0, 0, 0],
    [0, 20, 0, 0],
    [0, 25, 0, 0],
    [0, 0, 12, 35],
  ]
  const inBlock: Structural = (r, c) => blocks[r]![c] === 0
  const withheld = suppressTwoWay(blocks, 11, inBlock)
  t.same(withheld.rows, [true, true, true, true])
  t.same(withheld.columns, [true, true, true, true])
  t.ok(withheld.grand)
  t.ok(withheld.cells.every((line, r) => line.every((hidden, c) => hidden || inBlock(r, c))))
})

t.test('input checks', async (t) => {
  t.throws(() => suppressOneWay([1, -1], 11), RangeError)
  t.throws(() => suppressOneWay([1.5], 11), RangeError)
  t.throws(() => suppressOneWay([1], 0), RangeError)
  t.throws(() => suppressTwoWay([[1, 2], [3]], 11), RangeError)
})

const count = (minCell: number) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.integer({ min: 1, max: minCell - 1 }) },
    { weight: 3, arbitrary: fc.integer({ min: minCell, max: 4 * minCell }) },
  )

t.test('property: one-way tables publish nothing small and expose no small count', async (t) => {
  await fc.assert(
    fc.property(
      fc
        .constantFrom(2, 3, 5, 11)
        .chain((m) => fc.tuple(fc.constant(m), fc.array(count(m), { maxLength: 12 }))),
      ([m, counts]) => {
        const p = publishOneWay(counts, m)
        assertPublishedLarge(t, p, m)
        assertProtected(t, [counts], p, m)
      },
    ),
    { numRuns: 300, seed: 20261122 },
  )
})

t.test('property: two-way tables publish nothing small and expose no small count', async (t) => {
  const table = (m: number) =>
    fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }))
      .chain(([r, c]) =>
        fc.array(fc.array(count(m), { minLength: c, maxLength: c }), { minLength: r, maxLength: r }),
      )
  await fc.assert(
    fc.property(
      fc.constantFrom(3, 5, 11).chain((m) => fc.tuple(fc.constant(m), table(m), fc.boolean())),
      ([m, counts, touching]) => {
        // Half the runs are "flows touching row/column 0" tables with structural zeros elsewhere.
        const structural: Structural = touching ? (r, c) => r !== 0 && c !== 0 : none
        const input = counts.map((line, r) => line.map((v, c) => (structural(r, c) ? 0 : v)))
        const s = suppressTwoWay(input, m, structural)
        const p = publishTwoWay(input, s, structural)
        assertPublishedLarge(t, p, m)
        const withheld = s.grand && s.grandTotal >= m
        if (!withheld && String(s.rows) !== String(suppressOneWay(s.rowTotals, m).cells)) {
          t.fail('row totals are not suppressed as the one-way table is')
        }
        assertProtected(t, input, p, m)
      },
    ),
    { numRuns: 400, seed: 20261122 },
  )
})

t.test(
  'brute force on tiny tables agrees: every small hidden count has at least two possible values',
  async (t) => {
    const m = 3
    await fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 2 }), {
          minLength: 2,
          maxLength: 2,
        }),
        (counts) => {
          const p = publishTwoWay(counts, suppressTwoWay(counts, m))
          const bound = Math.max(...counts.flat()) + 1
          for (const { target, name, value } of sensitiveTargets(counts, p, m)) {
            const values = enumerateValues(p, target, bound)
            if (values.size < 2) t.fail(`${name} (${value}) takes only ${[...values].join(', ')}`)
          }
        },
      ),
      { numRuns: 150, seed: 7 },
    )
  },
)
