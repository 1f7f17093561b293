import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { recordAuditEvent } from '../audit/audit.service.js'
import { deliverToInbox } from '../inbox/inbox.service.js'
import { lockReferral, updateReferral } from '../referrals/referrals.repository.js'
import { deliveredFrom, type ReferralStatus } from './lifecycle.core.js'

/**
 * Moves a referral from `submitted` to `delivered` once the recipient has it (inbox confirmation or a
 * webhook's 2xx) and tells the sender. Idempotent: a second call changes nothing.
 */
export async function markDelivered(
  db: Kysely<Database>,
  config: Pick<Config, 'databaseSchema'>,
  referralId: string,
  via: 'inbox' | 'webhook',
  requestId?: string,
): Promise<boolean> {
  const row = await lockReferral(db, referralId)
  const next = row ? deliveredFrom(row.status as ReferralStatus) : undefined
  if (!row || !next) return false
  await updateReferral(db, referralId, { status: next })
  await recordAuditEvent(db, {
    actor: via === 'inbox' ? row.recipient_id : 'system',
    action: 'referral.delivered',
    target: { type: 'referral', id: referralId },
    referralId,
    requestId,
    outcome: 'success',
    details: { via },
  })
  await deliverToInbox(db, config, {
    agencyId: row.sender_id,
    type: 'status',
    referralId,
    body: { status: next, via },
  })
  return true
}
