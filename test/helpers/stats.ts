import { randomUUID } from 'node:crypto'
import type { NewReferralRow } from '../../src/db/types.js'
import { REFERRAL_STATUSES } from '../../src/modules/referrals/lifecycle.core.js'
import {
  AGE_GROUPS,
  EXPLOITATION_FORMS,
  GENDERS,
  URGENCIES,
} from '../../src/modules/referrals/referral-document.schema.js'
import type { Dimension } from '../../src/modules/stats/stats.dimensions.js'
import type { Equation } from './disclosure.js'

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

/** The (leaf) values of a dimension for one referral, as the release counts them (several forms). */
export function valuesOf(row: NewReferralRow, d: Dimension): string[] {
  switch (d) {
    case 'originCountry':
      return [row.sender_country]
    case 'destinationCountry':
      return [row.recipient_country]
    case 'exploitationForm':
      return [...new Set(row.exploitation_forms)]
    case 'ageGroup':
      return [row.age_group]
    case 'minor':
      return [String(row.minor)]
    case 'gender':
      return [row.gender]
    case 'urgency':
      return [row.urgency]
    case 'status':
      return [row.status]
  }
}

type Value = string | boolean
export interface StatsCell {
  key: Partial<Record<Dimension, Value>>
  count: number
}
export interface StatsAnswer {
  period: string
  from: string
  to: string
  release: { number: number; createdAt: string; minCell: number; referrals: number | null }
  groupBy: Dimension[]
  scope: string
  categories: Partial<Record<Dimension, { value: Value; members: Value[] }[]>>
  cells: StatsCell[]
  totals: { rows?: StatsCell[]; columns?: StatsCell[]; grand: number | null }
  notes: string[]
}

/**
 * The attacker's model of one fine table: a variable per combination of leaf values of `dims` (one or
 * two dimensions) and time slot, counting the referrals that carry it (for exploitationForm, that
 * carry that form). `slotsOf(period)` says which slots a quarter's answers cover.
 */
export class FineTable {
  readonly index = new Map<string, number>()
  constructor(
    readonly dims: Dimension[],
    readonly leaves: Record<string, string[]>,
    readonly slots: string[],
  ) {
    const [a, b] = dims
    for (const va of leaves[a!]!) {
      for (const vb of b ? leaves[b]! : ['']) {
        for (const slot of slots) this.index.set(this.name(va, vb, slot), this.index.size)
      }
    }
  }

  name(va: string, vb: string, slot: string) {
    return `${va}|${vb}|${slot}`
  }

  /** The variables of every combination of the given leaf sets within the given slots. */
  vars(sets: Partial<Record<Dimension, string[]>>, slots: string[]): number[] {
    const [a, b] = this.dims
    const out: number[] = []
    for (const va of sets[a!] ?? this.leaves[a!]!) {
      for (const vb of b ? (sets[b] ?? this.leaves[b]!) : ['']) {
        for (const slot of slots) {
          const i = this.index.get(this.name(va, vb, slot))
          if (i !== undefined) out.push(i)
        }
      }
    }
    return out
  }

  /** The true value of each variable, from the invented rows. */
  truth(rows: NewReferralRow[], slotOf: (row: NewReferralRow) => string): number[] {
    const x = new Array<number>(this.index.size).fill(0)
    const [a, b] = this.dims
    for (const row of rows) {
      for (const va of valuesOf(row, a!)) {
        for (const vb of b ? valuesOf(row, b) : ['']) {
          const i = this.index.get(this.name(va, vb, slotOf(row)))
          if (i !== undefined) x[i]! += 1
        }
      }
    }
    return x
  }
}

/**
 * Every equation an attacker gets about the fine table from the answers: each published cell and
 * total whose dimensions are among the table's is the sum of the fine combinations inside its
 * categories (answers grouped by a dimension outside the table give the quarter's total, which is
 * the sum of everything). With exploitationForm a cell counts referrals with at least one form in the
 * category, which is not a sum of the per-form variables; the attacker gets the valid bounds instead:
 * the per-form sum is at least the cell, and each variable at most the cell.
 */
export function equationsFrom(
  table: FineTable,
  answers: StatsAnswer[],
  slotsOf: (period: string) => string[],
) {
  const equations: Equation[] = []
  const forms = table.dims.includes('exploitationForm')
  const members = (answer: StatsAnswer, d: Dimension, value: Value | undefined) =>
    answer.categories[d]!.find((c) => c.value === value)!.members.map(String)
  for (const answer of answers) {
    if (answer.release.referrals === null) continue
    const slots = slotsOf(answer.period)
    const inside = answer.groupBy.every((d) => table.dims.includes(d))
    if (!inside) {
      if (
        !forms &&
        answer.scope === 'all' &&
        answer.groupBy.length === 1 &&
        answer.groupBy[0] !== 'exploitationForm'
      ) {
        equations.push({ vars: table.vars({}, slots), total: answer.totals.grand!, sense: '=' })
      }
      continue
    }
    const cellEquations = (cell: StatsCell) => {
      const sets = Object.fromEntries(
        Object.entries(cell.key).map(([d, v]) => [d, members(answer, d as Dimension, v)]),
      ) as Partial<Record<Dimension, string[]>>
      const vars = table.vars(sets, slots)
      if (!forms) return [{ vars, total: cell.count, sense: '=' as const }]
      if (!('exploitationForm' in cell.key)) {
        // Only the other dimension: referrals, each with at least one form.
        return [
          { vars, total: cell.count, sense: '>=' as const },
          ...vars.map((v) => ({ vars: [v], total: cell.count, sense: '<=' as const })),
        ]
      }
      return [
        { vars, total: cell.count, sense: '>=' as const },
        ...vars.map((v) => ({ vars: [v], total: cell.count, sense: '<=' as const })),
      ]
    }
    for (const cell of answer.cells) equations.push(...cellEquations(cell))
    // A scoped answer's totals are sums of the cells it shows, already counted above.
    if (!forms && answer.scope === 'all') {
      for (const total of [...(answer.totals.rows ?? []), ...(answer.totals.columns ?? [])]) {
        equations.push(...cellEquations(total))
      }
    }
  }
  return equations
}
