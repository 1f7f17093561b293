/**
 * The hub's consent rules (src/modules/referrals/referrals.core.ts, checkConsent), checked in the form
 * before anything is signed; the hub checks them again. test/unit/console-consent.test.ts holds the two
 * to the same verdicts.
 */
export const ASSISTANCE_KINDS = new Set(['ngo', 'social_services', 'child_protection', 'national_agency'])
const ENFORCEMENT_KINDS = new Set(['law_enforcement', 'prosecution'])
/** CTDC age brackets below 18: the presumption of minority makes such a victim a minor. */
export const MINOR_AGE_GROUPS = new Set(['0-8', '9-17'])

export interface ConsentFacts {
  victim: { minor: boolean }
  consent: { status: string; scope: string[]; byGuardian: boolean }
}

/** The first rule broken, as a JSON pointer and a message key, or undefined. */
export function consentProblem(
  document: ConsentFacts,
  recipientKind: string,
): { pointer: string; messageKey: string } | undefined {
  const { consent, victim } = document
  if (victim.minor && !consent.byGuardian && consent.status !== 'not_obtainable') {
    return { pointer: '/consent/byGuardian', messageKey: 'rule.minorConsent' }
  }
  if (ENFORCEMENT_KINDS.has(recipientKind) && !consent.scope.includes('law_enforcement')) {
    return { pointer: '/consent/scope', messageKey: 'rule.lawEnforcementScope' }
  }
  if (consent.status === 'refused' && !ASSISTANCE_KINDS.has(recipientKind)) {
    return { pointer: '/consent/status', messageKey: 'rule.refusedAssistanceOnly' }
  }
  return undefined
}
