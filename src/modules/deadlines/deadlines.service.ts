import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { findNationalContactPoint } from '../agencies/agencies.repository.js'
import { issueEvidence } from '../evidence/evidence.service.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
import { AWAITING_RECEIPT } from '../ledger/outbox.repository.js'
import { findReferral } from '../referrals/referrals.repository.js'
import { markEscalated } from './deadlines.repository.js'

export interface DeadlineDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
  hubKeys: HubKeys
  now: () => Date
}

export type DeadlineOutcome =
  | { outcome: 'escalated'; notified: string[] }
  | { outcome: 'not-due'; dueAt: Date }
  | { outcome: 'nothing' }

/**
 * The acknowledgement deadline of a referral has come: if the recipient has not said `received` and
 * nobody escalated it yet, the sender, the recipient and the recipient country's national contact
 * point each get one `escalation` message, in one transaction with the mark and the audit event, and
 * the sender `non_retrieval` evidence.
 * Running it again, or for a referral answered in time, changes nothing.
 */
export async function escalateIfOverdue(deps: DeadlineDeps, referralId: string): Promise<DeadlineOutcome> {
  const now = deps.now()
  const current = await findReferral(deps.db, referralId)
  if (!current || current.escalated_at !== null || current.received_at !== null) return { outcome: 'nothing' }
  if (!(AWAITING_RECEIPT as readonly string[]).includes(current.status)) return { outcome: 'nothing' }
  if (current.ack_due_at > now) return { outcome: 'not-due', dueAt: current.ack_due_at }

  return transact(deps.db, async (trx, afterCommit) => {
    const row = await markEscalated(trx, referralId, now)
    if (!row) return { outcome: 'nothing' as const }
    const ncp = await findNationalContactPoint(trx, row.recipient_country)
    const notified = [row.sender_id, row.recipient_id]
    if (ncp && ncp.status === 'active' && !notified.includes(ncp.id)) notified.push(ncp.id)
    const body = { ackDueAt: row.ack_due_at.toISOString(), status: row.status }
    for (const agencyId of notified) {
      await deliverToInbox(trx, afterCommit, deps.config, { agencyId, type: 'escalation', referralId, body })
    }
    await recordAuditEvent(trx, {
      actor: 'system',
      action: 'referral.escalated',
      target: { type: 'referral', id: referralId },
      referralId,
      outcome: 'success',
      details: {
        ackDueAt: body.ackDueAt,
        status: row.status,
        nationalContactPoint: notified[2] ?? null,
        notified: notified.length,
      },
    })
    await issueEvidence(trx, afterCommit, deps, {
      event: 'non_retrieval',
      referralIds: [referralId],
      at: now,
    })
    return { outcome: 'escalated' as const, notified }
  })
}
