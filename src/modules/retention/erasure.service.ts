import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
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
 * The deleted payloads leave the tables' files at the next compaction (compaction.service.ts). A
 * refused attempt is audited too: who asked, for which id, and why it was refused (as the caller was
 * told: a missing referral and one the caller may not see are both `not_found`).
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
  if (!referral || (!role && !caller.operator)) {
    await auditRefusal(deps, caller, referralId, reason, requestId, 'not_found')
    throw notFound()
  }
  if (role !== 'sender') {
    if (!caller.operator) {
      await auditRefusal(deps, caller, referralId, reason, requestId, 'not_sender')
      throw new HubError('TRM_AUTH_FORBIDDEN', 'Only the sender or an operator may erase a referral.')
    }
    if (!caller.scopes.includes('agencies:admin')) {
      await auditRefusal(deps, caller, referralId, reason, requestId, 'missing_scope')
      throw new HubError('TRM_AUTH_FORBIDDEN', 'This call needs the scope agencies:admin.')
    }
  }
  return transact(deps.db, async (trx, afterCommit) => {
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
      await deliverToInbox(trx, afterCommit, deps.config, {
        agencyId,
        type: 'erasure',
        referralId,
        body: { reason },
      })
    }
    return { id: referralId, erased: true as const, erasedAt: at.toISOString() }
  })
}

/**
 * The event of a refused erasure. It names the referral id asked for whether or not such a referral
 * exists, so the caller's view of its own events tells it no more than the 404 did; the parties of
 * an existing referral see in its trail who tried.
 */
function auditRefusal(
  deps: ErasureDeps,
  caller: { id: string },
  referralId: string,
  reason: ErasureReason,
  requestId: string,
  refusal: 'not_found' | 'not_sender' | 'missing_scope',
) {
  return recordAuditEvent(deps.db, {
    actor: caller.id,
    action: 'referral.erasure_refused',
    target: { type: 'referral', id: referralId },
    referralId,
    requestId,
    outcome: 'refused',
    details: { reason, refusal },
  })
}
