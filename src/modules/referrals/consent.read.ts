import type { Kysely } from 'kysely'
import type { Static } from 'typebox'
import type { Database } from '../../db/types.js'
import { oneOf } from '../../lib/one-of.js'
import { listChain, listWithdrawals } from './consent.repository.js'
import type { ConsentWithdrawalViewSchema } from './consent.schemas.js'
import { CONSENT_SCOPES_WITHDRAWN } from './lifecycle.core.js'

export type ConsentWithdrawalView = Static<typeof ConsentWithdrawalViewSchema>

/**
 * The consent withdrawals of the referral's chain (made on its first referral), for any party of any
 * link: which agencies confirmed erasing and when, which have not yet. Agency ids only, never another
 * link's documents.
 */
export async function consentWithdrawals(
  db: Kysely<Database>,
  referralId: string,
): Promise<ConsentWithdrawalView[]> {
  const root = (await listChain(db, referralId)).find((link) => link.onward_of === null)
  if (!root || root.consent_withdrawn.length === 0) return []
  const withdrawals = await listWithdrawals(db, root.id)
  return withdrawals.map((w) => ({
    id: w.id,
    scope: oneOf(CONSENT_SCOPES_WITHDRAWN, w.scope),
    withdrawnBy: w.withdrawn_by,
    withdrawnAt: w.withdrawn_at.toISOString(),
    confirmBy: w.due_at.toISOString(),
    confirmed: w.erasures
      .filter((e) => e.confirmed_at !== null)
      .map((e) => ({ agencyId: e.agency_id, at: (e.confirmed_at as Date).toISOString() })),
    pending: w.erasures
      .filter((e) => e.confirmed_at === null)
      .map((e) => ({ agencyId: e.agency_id, escalatedAt: e.escalated_at?.toISOString() ?? null })),
  }))
}
