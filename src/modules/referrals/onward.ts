import type { AgencyRow, NewAuditEventRow } from '../../db/types.js'
import { newId } from '../../lib/ids.js'
import { auditEventRow } from '../ledger/audit.service.js'

/**
 * What an onward referral writes besides an ordinary one (issue 19): the message telling the parent's
 * sender which agency took the case on (its agency id is the parent's sender, which the submission
 * statement finds under the parent's lock), and the `referral.handed_on` event on the parent's trail.
 * Neither carries anything of the new referral's document.
 */
export function onwardRows(
  onwardOf: string | undefined,
  {
    referralId,
    recipient,
    actor,
    requestId,
  }: {
    referralId: string
    recipient: Pick<AgencyRow, 'id' | 'country' | 'kind'>
    actor: string
    requestId: string
  },
): { notice: { id: string; body: string } | null; audit: NewAuditEventRow[] } {
  if (onwardOf === undefined) return { notice: null, audit: [] }
  const agency = { id: recipient.id, country: recipient.country, kind: recipient.kind }
  return {
    notice: { id: newId(), body: JSON.stringify({ onwardReferralId: referralId, agency }) },
    audit: [
      auditEventRow({
        actor,
        action: 'referral.handed_on',
        target: { type: 'referral', id: onwardOf },
        referralId: onwardOf,
        requestId,
        outcome: 'success',
        details: { onwardReferralId: referralId, recipient: recipient.id },
      }),
    ],
  }
}
