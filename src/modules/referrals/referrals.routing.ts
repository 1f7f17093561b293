import type { AgencyRow } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import type { DirectoryCache } from '../agencies/directory-cache.js'
import type { ReferralDocument } from './referral-document.schema.js'
import { checkConsent } from './referrals.core.js'
import { refusals } from './referrals.refusals.js'
import { checkSensitive } from './sensitive.js'

/** Where a referral goes, as the directory (cache) says: checked again by the writing statement. */
export interface Route {
  recipient: AgencyRow
  /** The recipient key the sensitive JWE is addressed to, when there is one. */
  encryptionKid: string | undefined
}

async function resolveRecipient(directory: DirectoryCache, document: ReferralDocument): Promise<AgencyRow> {
  if ('country' in document.recipient) {
    const ncp = await directory.nationalContactPoint(document.recipient.country)
    if (ncp?.status !== 'active') throw refusals.TRM_RECIPIENT_INVALID(document)
    if (ncp.id === document.sender) {
      throw new HubError('TRM_RECIPIENT_INVALID', 'An agency cannot refer a case to itself.', {
        pointer: '/recipient/country',
      })
    }
    return ncp
  }
  const agency = await directory.agency(document.recipient.agencyId)
  if (agency?.status !== 'active' || agency.id === document.sender)
    throw refusals.TRM_RECIPIENT_INVALID(document)
  return agency
}

/** Resolves the recipient and checks consent and the sensitive JWE against it; throws the refusal. */
export async function route(directory: DirectoryCache, document: ReferralDocument): Promise<Route> {
  const recipient = await resolveRecipient(directory, document)
  const consentProblem = checkConsent(document, recipient.kind)
  if (consentProblem) {
    throw new HubError('TRM_CONSENT_INSUFFICIENT', consentProblem.detail, { pointer: consentProblem.pointer })
  }
  const encryptionKid =
    document.sensitive === undefined
      ? undefined
      : checkSensitive(document.sensitive, await directory.keys(recipient.id))
  return { recipient, encryptionKid }
}

/** Forgets the directory entries a routing decision about this document read. */
export function forgetRoute(directory: DirectoryCache, document: ReferralDocument) {
  if ('country' in document.recipient) directory.forgetCountry(document.recipient.country)
  else directory.forget(document.recipient.agencyId)
}
