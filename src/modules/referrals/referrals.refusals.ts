import { HubError } from '../../lib/errors.js'
import type { ReferralDocument } from './referral-document.schema.js'

/** A check inside the submission statement that failed (submissions.repository.ts): nothing was written. */
export type SubmissionRefusal =
  | 'TRM_IN_PROGRESS'
  | 'TRM_AUTH_UNAUTHENTICATED'
  | 'TRM_KEY_UNKNOWN'
  | 'TRM_RECIPIENT_INVALID'
  | 'TRM_SENSITIVE_INVALID'
  | 'TRM_ONWARD_PARENT_UNKNOWN'
  | 'TRM_ONWARD_NOT_RECIPIENT'
  | 'TRM_ONWARD_PARENT_NOT_RECEIVED'
  | 'TRM_ONWARD_VICTIM_MISMATCH'
  | 'TRM_ONWARD_CONSENT_MISSING'
  | 'TRM_ONWARD_CONSENT_WITHDRAWN'
  | 'TRM_ONWARD_HANDLING_FORBIDS'
  | 'TRM_VICTIM_REFERENCE_UNKNOWN'

/** Refusals the checks inside the writing statement can also give: one wording whichever finds them. */
export const refusals = {
  // The same answer, header included, as the access check gives a suspended agency (plugins/auth.ts).
  TRM_AUTH_UNAUTHENTICATED: () =>
    new HubError('TRM_AUTH_UNAUTHENTICATED', 'A valid access token is required.', {
      headers: { 'www-authenticate': 'Bearer realm="trm-hub"' },
    }),
  TRM_IN_PROGRESS: () =>
    new HubError('TRM_IN_PROGRESS', 'The same referral is being submitted right now; retry shortly.', {
      pointer: '/id',
    }),
  TRM_KEY_UNKNOWN: () =>
    new HubError('TRM_KEY_UNKNOWN', 'The kid is not an active signing key of the calling agency.', {
      pointer: '/jws/header/kid',
    }),
  TRM_RECIPIENT_INVALID: (document: ReferralDocument) =>
    'country' in document.recipient
      ? new HubError(
          'TRM_RECIPIENT_INVALID',
          `${document.recipient.country} has no active national contact point.`,
          { pointer: '/recipient/country' },
        )
      : new HubError(
          'TRM_RECIPIENT_INVALID',
          'The recipient must be an active agency other than the sender.',
          {
            pointer: '/recipient/agencyId',
          },
        ),
  TRM_SENSITIVE_INVALID: () =>
    new HubError(
      'TRM_SENSITIVE_INVALID',
      "sensitive must be encrypted to one of the recipient's active enc keys.",
      {
        pointer: '/sensitive',
      },
    ),
  TRM_VICTIM_REFERENCE_UNKNOWN: () =>
    new HubError('TRM_VICTIM_REFERENCE_UNKNOWN', 'The victim reference is not one of your referrals.', {
      pointer: '/victim/reference',
    }),
  // Onward referral (issue 19): a parent that does not exist and one the caller may not see read the
  // same, so a refusal never tells whether a referral between other agencies exists.
  TRM_ONWARD_PARENT_UNKNOWN: () =>
    new HubError('TRM_ONWARD_PARENT_UNKNOWN', 'onwardOf names no referral you are party to.', {
      pointer: '/onwardOf',
    }),
  TRM_ONWARD_NOT_RECIPIENT: () =>
    new HubError(
      'TRM_ONWARD_NOT_RECIPIENT',
      'Only the recipient of the referral in onwardOf may hand it on.',
      {
        pointer: '/onwardOf',
      },
    ),
  TRM_ONWARD_PARENT_NOT_RECEIVED: () =>
    new HubError(
      'TRM_ONWARD_PARENT_NOT_RECEIVED',
      'The referral in onwardOf must be acknowledged received before it is handed on.',
      { pointer: '/onwardOf' },
    ),
  TRM_ONWARD_VICTIM_MISMATCH: () =>
    new HubError(
      'TRM_ONWARD_VICTIM_MISMATCH',
      'victim.reference must be the victim reference of the referral in onwardOf.',
      { pointer: '/victim/reference' },
    ),
  TRM_ONWARD_CONSENT_MISSING: () =>
    new HubError(
      'TRM_ONWARD_CONSENT_MISSING',
      'The consent scope of the referral in onwardOf does not include onward_sharing.',
      { pointer: '/onwardOf' },
    ),
  TRM_ONWARD_CONSENT_WITHDRAWN: () =>
    new HubError(
      'TRM_ONWARD_CONSENT_WITHDRAWN',
      'Consent to onward sharing (or all consent, or, for a law_enforcement or prosecution recipient, consent to law_enforcement) was withdrawn for the case of the referral in onwardOf.',
      { pointer: '/onwardOf' },
    ),
  TRM_ONWARD_HANDLING_FORBIDS: () =>
    new HubError(
      'TRM_ONWARD_HANDLING_FORBIDS',
      'The referral in onwardOf carries the handling code no_onward_sharing.',
      { pointer: '/onwardOf' },
    ),
  TRM_DUPLICATE_MISMATCH: () =>
    new HubError('TRM_DUPLICATE_MISMATCH', 'This referral id was already used for a different document.', {
      pointer: '/id',
    }),
  TRM_OVERLOADED: () =>
    new HubError(
      'TRM_OVERLOADED',
      'The hub has more referrals waiting than it takes; nothing was stored. Retry after the time in Retry-After.',
      { headers: { 'retry-after': '1' } },
    ),
  CLIENT_GONE: () =>
    new HubError(
      'TRM_BAD_REQUEST',
      'The client closed the connection before the referral was written; nothing was stored.',
    ),
}

/** The refusal a check of the writing statement stands for. */
export function statementRefusal(code: SubmissionRefusal, document: ReferralDocument): HubError {
  return code === 'TRM_RECIPIENT_INVALID' ? refusals.TRM_RECIPIENT_INVALID(document) : refusals[code]()
}

/** Refusals that a directory entry older than the cache's lifetime could have caused. */
export const DECIDED_BY_DIRECTORY = new Set<string>([
  'TRM_RECIPIENT_INVALID',
  'TRM_CONSENT_INSUFFICIENT',
  'TRM_SENSITIVE_INVALID',
])

/** Refusals of the caller or its key: the cache's entry for the caller may be stale. */
export const DECIDED_BY_CALLER = new Set<string>(['TRM_AUTH_UNAUTHENTICATED', 'TRM_KEY_UNKNOWN'])

/** Answers that say nothing about the document: no reason to look for it as a replay. */
export const NOT_A_REFUSAL = new Set<string>(['TRM_IN_PROGRESS', 'TRM_OVERLOADED', 'TRM_BAD_REQUEST'])
