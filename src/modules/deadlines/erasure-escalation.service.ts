import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
import { claimOverdueErasures } from '../referrals/consent.repository.js'

export interface ErasureEscalationDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
}

/**
 * A set-based sweep over the erasure requests of consent withdrawals: each holder that has not sent
 * `erasure_confirmed` by its due time is escalated to its country's national contact point, once: in
 * one transaction the requests are marked, the NCP gets an `escalation` message naming the holder
 * (on the holder's referral of the chain, which the NCP may then read as any escalated referral) and
 * the event is audited. A holder whose country has no active NCP other than itself is marked and
 * audited with no message. Running it again changes nothing; concurrent sweeps skip each other's rows.
 * `now` is the sweep's clock (tests pass one). Returns how many it escalated; call again while it
 * returns `limit`.
 */
export function escalateUnconfirmedErasures(
  deps: ErasureEscalationDeps,
  now: Date,
  limit = 500,
): Promise<{ escalated: number; notified: number }> {
  return transact(deps.db, async (trx, afterCommit) => {
    const rows = await claimOverdueErasures(trx, now, limit)
    let notified = 0
    for (const row of rows) {
      if (row.escalated_to) {
        notified++
        await deliverToInbox(trx, afterCommit, deps.config, {
          agencyId: row.escalated_to,
          type: 'escalation',
          referralId: row.referral_id,
          body: {
            reason: 'erasure_unconfirmed',
            withdrawalId: row.withdrawal_id,
            agencyId: row.agency_id,
            confirmBy: row.due_at.toISOString(),
          },
        })
      }
      await recordAuditEvent(trx, {
        actor: 'system',
        action: 'consent.erasure_escalated',
        target: { type: 'agency', id: row.agency_id },
        referralId: row.referral_id,
        outcome: 'success',
        details: {
          withdrawalId: row.withdrawal_id,
          confirmBy: row.due_at.toISOString(),
          nationalContactPoint: row.escalated_to,
        },
      })
    }
    return { escalated: rows.length, notified }
  })
}
