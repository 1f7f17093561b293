import { randomBytes } from 'node:crypto'
import type { FieldError } from '../../lib/errors.js'
import type { ReferralDocument } from './referral-document.schema.js'

/** Agencies that give assistance; the only ones a referral may go to when consent was refused. */
export const ASSISTANCE_KINDS = new Set(['ngo', 'social_services', 'child_protection', 'national_agency'])
const ENFORCEMENT_KINDS = new Set(['law_enforcement', 'prosecution'])

/**
 * Consent rules, checked against the resolved recipient's kind. Returns the first problem with the
 * pointer at fault, or undefined.
 */
export function checkConsent(document: ReferralDocument, recipientKind: string): FieldError | undefined {
  const { consent, victim } = document
  if (victim.minor && !consent.byGuardian && consent.status !== 'not_obtainable') {
    return {
      pointer: '/consent/byGuardian',
      detail: "A minor's consent must be given by a guardian, or recorded as not_obtainable.",
    }
  }
  if (ENFORCEMENT_KINDS.has(recipientKind) && !consent.scope.includes('law_enforcement')) {
    return {
      pointer: '/consent/scope',
      detail: `A ${recipientKind} recipient needs law_enforcement in the consent scope.`,
    }
  }
  if (consent.status === 'refused' && !ASSISTANCE_KINDS.has(recipientKind)) {
    return {
      pointer: '/consent/status',
      detail: 'With consent refused, a referral may go only to an assistance agency.',
    }
  }
  return undefined
}

export interface DeadlineSeconds {
  immediate: number
  urgent: number
  routine: number
}

/** When `received` is due: by urgency, and a minor's referral is never slower than `urgent`. */
export function ackDueAt(
  submittedAt: Date,
  urgency: ReferralDocument['urgency'],
  minor: boolean,
  deadlines: DeadlineSeconds,
): Date {
  let seconds = deadlines[urgency]
  if (minor) seconds = Math.min(seconds, deadlines.urgent)
  return new Date(submittedAt.getTime() + seconds * 1000)
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** `V-` and 26 Crockford base32 characters (130 bits) from the CSPRNG. */
export function newVictimReference(random: (n: number) => Uint8Array = randomBytes): string {
  const bytes = random(26)
  let out = 'V-'
  for (const byte of bytes) out += CROCKFORD[byte & 31]
  return out
}
