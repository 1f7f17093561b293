import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../audit/audit.service.js'
import { deliverToInbox } from '../inbox/inbox.service.js'
import { notFound, partyRole } from '../referrals/referrals.read.js'
import { findReferral, lockReferral } from '../referrals/referrals.repository.js'
import { purgePayloads } from './retention.repository.js'

export const ERASURE_REASONS = [
  'data_subject_request',
  'consent_withdrawn',
  'entered_in_error',
  'legal_obligation',
  'other',
] as const
export type ErasureReason = (typeof ERASURE_REASONS)[number]

export interface ErasureDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
  now: () => Date
}

/**
 * Erases a referral's payloads at once, in any state, on the sender's or an operator's request: the
 * skeleton and the audit trail remain; both parties are told through their inboxes. An operator erases
 * another agency's referral with `agencies:admin` in its token, the scope of its power over others.
 */
export async function eraseReferral(
  deps: ErasureDeps,
  caller: { id: string; operator: boolean; scopes: readonly string[] },
  referralId: string,
  reason: ErasureReason,
  requestId: string,
): Promise<{ id: string; erased: true; erasedAt: string }> {
  const referral = await findReferral(deps.db, referralId)
  const role = referral ? await partyRole(deps.db, referral, caller.id) : undefined
  if (!referral || (!role && !caller.operator)) throw notFound()
  if (role !== 'sender') {
    if (!caller.operator) {
      throw new HubError('TRM_AUTH_FORBIDDEN', 'Only the sender or an operator may erase a referral.')
    }
    if (!caller.scopes.includes('agencies:admin')) {
      throw new HubError('TRM_AUTH_FORBIDDEN', 'This call needs the scope agencies:admin.')
    }
  }
  return transact(deps.db, async (trx) => {
    const current = await lockReferral(trx, referralId)
    if (!current) throw notFound()
    if (current.erased_at)
      return { id: referralId, erased: true as const, erasedAt: current.erased_at.toISOString() }
    const at = deps.now()
    await purgePayloads(trx, referralId, at)
    await recordAuditEvent(trx, {
      actor: caller.id,
      action: 'referral.erased',
      target: { type: 'referral', id: referralId },
      referralId,
      requestId,
      outcome: 'success',
      details: { reason },
    })
    for (const agencyId of [current.sender_id, current.recipient_id]) {
      await deliverToInbox(trx, deps.config, { agencyId, type: 'erasure', referralId, body: { reason } })
    }
    return { id: referralId, erased: true as const, erasedAt: at.toISOString() }
  })
}
