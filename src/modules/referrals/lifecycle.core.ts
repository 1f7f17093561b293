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
  'consent_withdrawn',
  'erasure_confirmed',
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

/** What a `consent_withdrawn` acknowledgement withdraws (its `scope`): everything, or one use. */
export const CONSENT_SCOPES_WITHDRAWN = ['all', 'law_enforcement', 'onward_sharing'] as const
export type ConsentScopeWithdrawn = (typeof CONSENT_SCOPES_WITHDRAWN)[number]

/**
 * Acknowledgements about consent rather than care: they change no state. `consent_withdrawn` comes
 * from the sender (the service narrows it to the chain's first sender), `erasure_confirmed` from
 * either party once a withdrawal asked it to erase.
 */
export const CONSENT_ACK_TYPES: ReadonlySet<AckType> = new Set(['consent_withdrawn', 'erasure_confirmed'])
/** All that a referral accepts once all consent was withdrawn. */
export const AFTER_ALL_WITHDRAWN: ReadonlySet<AckType> = new Set(['erasure_confirmed', 'closed', 'withdrawn'])

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
  by: Party | 'either'
  from: readonly ReferralStatus[]
  to: ReferralStatus | 'unchanged'
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
  consent_withdrawn: { by: 'sender', from: REFERRAL_STATUSES, to: 'unchanged' },
  erasure_confirmed: { by: 'either', from: REFERRAL_STATUSES, to: 'unchanged' },
}

export const TERMINAL: ReadonlySet<ReferralStatus> = new Set(['declined', 'closed', 'withdrawn'])

export type TransitionResult =
  | { ok: true; to: ReferralStatus }
  | { ok: false; problem: 'wrong-party'; allowedParty: Party }
  | { ok: false; problem: 'invalid-transition'; from: ReferralStatus }
  | { ok: false; problem: 'consent-withdrawn'; withdrawn: ConsentScopeWithdrawn }

/**
 * Where an acknowledgement leads. `withdrawn` lists the consent scopes withdrawn for the referral's
 * chain: once `all` is, only {@link AFTER_ALL_WITHDRAWN} is accepted (and still only where the table
 * allows it); a scope withdrawn cannot be withdrawn again, nor anything after `all`.
 */
export function transition(
  from: ReferralStatus,
  type: AckType,
  by: Party,
  withdrawn: readonly ConsentScopeWithdrawn[] = [],
): TransitionResult {
  const rule = RULES[type]
  if (rule.by !== 'either' && rule.by !== by)
    return { ok: false, problem: 'wrong-party', allowedParty: rule.by }
  if (withdrawn.includes('all') && !AFTER_ALL_WITHDRAWN.has(type))
    return { ok: false, problem: 'consent-withdrawn', withdrawn: 'all' }
  if (!rule.from.includes(from)) return { ok: false, problem: 'invalid-transition', from }
  return { ok: true, to: rule.to === 'unchanged' ? from : rule.to }
}

/** A `consent_withdrawn` of `scope` after the scopes `withdrawn`: refused when nothing is left of it. */
export function withdrawable(scope: ConsentScopeWithdrawn, withdrawn: readonly ConsentScopeWithdrawn[]) {
  return !withdrawn.includes('all') && !withdrawn.includes(scope)
}

/** Delivery (inbox confirmation or a webhook's 2xx) is not an acknowledgement: the hub records it. */
export function deliveredFrom(from: ReferralStatus): ReferralStatus | undefined {
  return from === 'submitted' ? 'delivered' : undefined
}
