import { randomUUID } from 'node:crypto'
import type { NewReferralRow } from '../../src/db/types.js'
import { REFERRAL_STATUSES } from '../../src/modules/referrals/lifecycle.core.js'
import {
  AGE_GROUPS,
  EXPLOITATION_FORMS,
  GENDERS,
  URGENCIES,
} from '../../src/modules/referrals/referral-document.schema.js'
import type { Dimension, DimensionValue } from '../../src/modules/stats/stats.dimensions.js'
import { consistent, feasibleRange, type PublishedTable, peel, type Target } from './disclosure.js'

/** A small seeded generator (mulberry32), so the invented data set is the same on every run. */
export function seeded(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  /** One of the values, with the given weights (uniform without). */
  const pick = <T>(values: readonly T[], weights?: readonly number[]): T => {
    const w = weights ?? values.map(() => 1)
    let roll = next() * w.reduce((a, b) => a + b, 0)
    for (let i = 0; i < values.length; i += 1) {
      roll -= w[i]!
      if (roll < 0) return values[i]!
    }
    return values.at(-1)!
  }
  return { next, pick }
}

export interface SeedAgency {
  id: string
  country: string
}

/**
 * Invented referral rows with only the triage columns varying: obviously fake, nothing identifies
 * anyone (placeholder JWS, receipt and digest; random victim references).
 */
export function inventReferrals(
  senders: { agency: SeedAgency; weight: number }[],
  recipients: { agency: SeedAgency; weight: number }[],
  count: number,
  period: { from: Date; to: Date },
  seed: number,
): NewReferralRow[] {
  const random = seeded(seed)
  const span = period.to.getTime() - period.from.getTime()
  return Array.from({ length: count }, () => {
    const sender = random.pick(
      senders.map((s) => s.agency),
      senders.map((s) => s.weight),
    )
    const others = recipients.filter((r) => r.agency.id !== sender.id)
    const recipient = random.pick(
      others.map((r) => r.agency),
      others.map((r) => r.weight),
    )
    const ageGroup = random.pick(AGE_GROUPS, [1, 6, 8, 7, 5, 4, 6, 2, 1, 2])
    const formCount = random.pick([1, 2, 3], [6, 3, 1])
    const forms = new Set<string>()
    while (forms.size < formCount)
      forms.add(random.pick(EXPLOITATION_FORMS, [30, 25, 6, 8, 3, 1, 3, 1, 1, 2]))
    const submitted = new Date(period.from.getTime() + Math.floor(random.next() * span))
    return {
      id: randomUUID(),
      sender_id: sender.id,
      recipient_id: recipient.id,
      sender_country: sender.country,
      recipient_country: recipient.country,
      status: random.pick(REFERRAL_STATUSES, [8, 10, 12, 3, 14, 3, 4, 2]),
      urgency: random.pick(URGENCIES, [2, 5, 9]),
      stage: 'first_assistance',
      victim_reference: `V-${randomUUID()}`,
      age_group: ageGroup,
      minor: ageGroup === '0-8' || ageGroup === '9-17' || random.next() < 0.02,
      gender: random.pick(GENDERS, [14, 8, 1, 1]),
      citizenship: [sender.country],
      exploitation_forms: [...forms],
      exploitation_countries: [recipient.country],
      identified_in: recipient.country,
      needs: ['accommodation'],
      consent_status: 'given',
      has_sensitive: false,
      payload_sha256: 'invented',
      receipt: 'invented',
      document_created_at: submitted,
      submitted_at: submitted,
      ack_due_at: new Date(submitted.getTime() + 24 * 3600 * 1000),
    }
  })
}

/** The value of a dimension for one referral (several for the forms of exploitation). */
export function valuesOf(row: NewReferralRow, d: Dimension): DimensionValue[] {
  const submitted = row.submitted_at as Date
  switch (d) {
    case 'originCountry':
      return [row.sender_country]
    case 'destinationCountry':
      return [row.recipient_country]
    case 'exploitationForm':
      return row.exploitation_forms
    case 'ageGroup':
      return [row.age_group]
    case 'gender':
      return [row.gender]
    case 'minor':
      return [row.minor]
    case 'urgency':
      return [row.urgency]
    case 'status':
      return [row.status]
    case 'month':
      return [submitted.toISOString().slice(0, 7)]
  }
}

/** Counts by key (JSON of the values in order) computed in plain JavaScript, the reference for the API. */
export function expectedCounts(rows: NewReferralRow[], dimensions: Dimension[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const row of rows) {
    const [a, b] = dimensions.map((d) => valuesOf(row, d))
    for (const va of a!) {
      for (const vb of b ?? [undefined]) {
        const key = JSON.stringify(b ? [va, vb] : [va])
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
    }
  }
  return counts
}

export interface StatsAnswer {
  groupBy: Dimension[]
  from: string
  to: string
  scope: string
  minCell: number
  cells: { key: Record<string, DimensionValue>; count: number | null; suppressed: boolean }[]
  totals: {
    rows?: { key: Record<string, DimensionValue>; count: number | null; suppressed: boolean }[]
    columns?: { key: Record<string, DimensionValue>; count: number | null; suppressed: boolean }[]
    grand: { count: number | null; suppressed: boolean }
  }
  notes: string[]
}

/** The answer as the attacker's table, with the values of each axis (cells absent from the answer are undefined). */
export function asPublishedTable(answer: StatsAnswer) {
  const [a, b] = answer.groupBy as [Dimension, Dimension | undefined]
  const rowValues = b ? answer.totals.rows!.map((r) => r.key[a]!) : answer.cells.map((c) => c.key[a]!)
  const colValues = b ? answer.totals.columns!.map((c) => c.key[b]!) : [undefined]
  const byKey = new Map(answer.cells.map((c) => [JSON.stringify(b ? [c.key[a], c.key[b]] : [c.key[a]]), c]))
  const table: PublishedTable = {
    cells: rowValues.map((va) =>
      colValues.map((vb) => byKey.get(JSON.stringify(b ? [va, vb] : [va]))?.count),
    ),
    grand: answer.totals.grand.count,
  }
  if (b) {
    table.rows = answer.totals.rows!.map((r) => r.count)
    table.columns = answer.totals.columns!.map((c) => c.count)
  }
  return { table, rowValues, colValues }
}

/**
 * Attacks one answer knowing the true counts: every published number must be right and not small,
 * and no hidden small count (cell or total) may be recovered by peeling or pinned down by linear
 * programming. Also says whether primary suppression alone would have leaked.
 */
export function attackAnswer(answer: StatsAnswer, expected: Map<string, number>, minCell: number) {
  const { table, rowValues, colValues } = asPublishedTable(answer)
  const two = answer.groupBy.length === 2
  const truth = (r: number, c: number) =>
    expected.get(JSON.stringify(two ? [rowValues[r], colValues[c]] : [rowValues[r]])) ?? 0
  const rowTotal = (r: number) => table.cells[r]!.reduce<number>((s, _, c) => s + truth(r, c), 0)
  const colTotal = (c: number) => table.cells.reduce<number>((s, _, r) => s + truth(r, c), 0)
  const small = (n: number) => n >= 1 && n < minCell
  const failures: string[] = []
  const targets: { target: Target; value: number; label: string }[] = []
  table.cells.forEach((line, r) => {
    line.forEach((v, c) => {
      const value = truth(r, c)
      if (typeof v === 'number' && v !== value) failures.push(`cell ${r},${c} is ${v}, not ${value}`)
      if (typeof v === 'number' && v < minCell) failures.push(`${v} published`)
      if (v === null && small(value)) {
        targets.push({ target: { kind: 'cell', row: r, column: c }, value, label: `cell ${r} ${c}` })
      }
    })
  })
  table.rows?.forEach((v, r) => {
    if (v === null && small(rowTotal(r))) {
      targets.push({ target: { kind: 'row', index: r }, value: rowTotal(r), label: `row ${r}` })
    } else if (v !== null && v !== rowTotal(r)) failures.push(`row total ${r}`)
  })
  table.columns?.forEach((v, c) => {
    if (v === null && small(colTotal(c))) {
      targets.push({ target: { kind: 'column', index: c }, value: colTotal(c), label: `column ${c}` })
    } else if (v !== null && v !== colTotal(c)) failures.push(`column total ${c}`)
  })
  const recovered = peel(table)
  for (const { target, value, label } of targets) {
    if (recovered.has(label)) failures.push(`peeling recovers ${label} = ${recovered.get(label)}`)
    const range = feasibleRange(table, target)
    if (range.max <= range.min) failures.push(`${label} (${value}) is determined`)
    else if (!range.witnesses.every((w) => consistent(table, w)))
      failures.push(`${label}: a witness is wrong`)
  }
  const primaryOnly: PublishedTable = {
    cells: table.cells.map((line, r) =>
      line.map((v, c) => (v === undefined ? v : truth(r, c) < minCell ? null : truth(r, c))),
    ),
    grand: table.grand,
  }
  if (table.rows) primaryOnly.rows = table.rows.map((_, r) => (rowTotal(r) < minCell ? null : rowTotal(r)))
  if (table.columns) {
    primaryOnly.columns = table.columns.map((_, c) => (colTotal(c) < minCell ? null : colTotal(c)))
  }
  const leakyWithoutSecondary = targets.some(({ target }) => {
    const range = feasibleRange(primaryOnly, target)
    return range.max <= range.min
  })
  return { failures, attacked: targets.length, leakyWithoutSecondary }
}
