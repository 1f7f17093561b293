/**
 * The referral lifecycle (DESIGN.md, Acknowledgements and the referral lifecycle) as a pure state
 * machine: which party may send which acknowledgement from which state, and where it leads.
 */
export const ACK_TYPES = [
  'received',
  'accepted',
  'declined',
  'info_requested',
  'info_provided',
  'closed',
  'withdrawn',
] as const
export type AckType = (typeof ACK_TYPES)[number]

export const REFERRAL_STATUSES = [
  'submitted',
  'delivered',
  'received',
  'info_requested',
  'accepted',
  'declined',
  'closed',
  'withdrawn',
] as const
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number]

export type Party = 'sender' | 'recipient'

export const DECLINE_REASONS = [
  'capacity',
  'eligibility',
  'jurisdiction',
  'consent_missing',
  'safety',
  'duplicate',
  'other',
] as const
export const CLOSE_OUTCOMES = [
  'assistance_completed',
  'returned_home',
  'transferred',
  'lost_contact',
  'victim_declined',
  'other',
] as const

interface Rule {
  by: Party
  from: readonly ReferralStatus[]
  to: ReferralStatus
}

/** `received` may come straight from `submitted`: reading the referral by id is delivery enough. */
export const RULES: Record<AckType, Rule> = {
  received: { by: 'recipient', from: ['submitted', 'delivered'], to: 'received' },
  accepted: { by: 'recipient', from: ['received'], to: 'accepted' },
  declined: { by: 'recipient', from: ['received'], to: 'declined' },
  info_requested: { by: 'recipient', from: ['received'], to: 'info_requested' },
  info_provided: { by: 'sender', from: ['info_requested'], to: 'received' },
  closed: { by: 'recipient', from: ['accepted'], to: 'closed' },
  withdrawn: {
    by: 'sender',
    from: ['submitted', 'delivered', 'received', 'info_requested'],
    to: 'withdrawn',
  },
}

export const TERMINAL: ReadonlySet<ReferralStatus> = new Set(['declined', 'closed', 'withdrawn'])

export type TransitionResult =
  | { ok: true; to: ReferralStatus }
  | { ok: false; problem: 'wrong-party'; allowedParty: Party }
  | { ok: false; problem: 'invalid-transition'; from: ReferralStatus }

export function transition(from: ReferralStatus, type: AckType, by: Party): TransitionResult {
  const rule = RULES[type]
  if (rule.by !== by) return { ok: false, problem: 'wrong-party', allowedParty: rule.by }
  if (!rule.from.includes(from)) return { ok: false, problem: 'invalid-transition', from }
  return { ok: true, to: rule.to }
}

/** Delivery (inbox confirmation or a webhook's 2xx) is not an acknowledgement: the hub records it. */
export function deliveredFrom(from: ReferralStatus): ReferralStatus | undefined {
  return from === 'submitted' ? 'delivered' : undefined
}
