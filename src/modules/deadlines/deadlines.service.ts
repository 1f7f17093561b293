import type { Kysely, Transaction } from 'kysely'
import type { Config } from '../../config.js'
import { type AfterCommit, transact } from '../../db/after-commit.js'
import type { Database, ReferralRow } from '../../db/types.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { findNationalContactPoint } from '../agencies/agencies.repository.js'
import { issueEvidence } from '../evidence/evidence.service.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { deliverToInbox } from '../ledger/inbox.service.js'
import { AWAITING_RECEIPT } from '../ledger/outbox.repository.js'
import { findReferral } from '../referrals/referrals.repository.js'
import { listOverdue, markEscalated } from './deadlines.repository.js'

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
 * Raises the escalation of one referral that missed its acknowledgement deadline, inside the
 * caller's transaction (which has just marked it escalated): the sender, the recipient and the
 * recipient country's national contact point each get one `escalation` message (and its webhook for
 * a push agency), the sender `non_retrieval` evidence, and one audit event records it. The one
 * place an escalation is raised; returns the agencies told.
 */
export async function escalate(
  trx: Transaction<Database>,
  afterCommit: AfterCommit,
  deps: Pick<DeadlineDeps, 'config' | 'hubKeys'>,
  referral: ReferralRow,
  now: Date,
): Promise<string[]> {
  const ncp = await findNationalContactPoint(trx, referral.recipient_country)
  const notified = [referral.sender_id, referral.recipient_id]
  if (ncp && ncp.status === 'active' && !notified.includes(ncp.id)) notified.push(ncp.id)
  const body = { ackDueAt: referral.ack_due_at.toISOString(), status: referral.status }
  for (const agencyId of notified) {
    await deliverToInbox(trx, afterCommit, deps.config, {
      agencyId,
      type: 'escalation',
      referralId: referral.id,
      body,
    })
  }
  await recordAuditEvent(trx, {
    actor: 'system',
    action: 'referral.escalated',
    target: { type: 'referral', id: referral.id },
    referralId: referral.id,
    outcome: 'success',
    details: {
      ackDueAt: body.ackDueAt,
      status: referral.status,
      nationalContactPoint: notified[2] ?? null,
      notified: notified.length,
    },
  })
  await issueEvidence(trx, afterCommit, deps, { event: 'non_retrieval', referralIds: [referral.id], at: now })
  return notified
}

/**
 * Marks the referral escalated and raises its escalation, in the caller's transaction, when it is
 * still awaiting `received` past its due time and nobody escalated it (nor is escalating it now: the
 * row is locked `for update skip locked`). Returns the agencies told, or undefined when it did nothing.
 */
export async function escalateOverdue(
  trx: Transaction<Database>,
  afterCommit: AfterCommit,
  deps: Pick<DeadlineDeps, 'config' | 'hubKeys'>,
  referralId: string,
  now: Date,
): Promise<string[] | undefined> {
  const row = await markEscalated(trx, referralId, now)
  return row ? escalate(trx, afterCommit, deps, row, now) : undefined
}

export interface SweepOutcome {
  /** Overdue referrals the batch listed (the batch size: there may be more). */
  listed: number
  escalated: number
  failed: number
}

/**
 * One batch of the deadline sweep: lists up to `batchSize` overdue referrals and escalates each in a
 * transaction of its own, so that one that fails (told to `onError`) neither undoes nor holds back
 * the others; it stays overdue and is tried again by the next sweep.
 */
export async function sweepOverdue(
  deps: DeadlineDeps & { batchSize: number; onError: (referralId: string, error: unknown) => void },
): Promise<SweepOutcome> {
  const now = deps.now()
  const ids = await listOverdue(deps.db, now, deps.batchSize)
  const outcome = { listed: ids.length, escalated: 0, failed: 0 }
  for (const referralId of ids) {
    try {
      const notified = await transact(deps.db, (trx, afterCommit) =>
        escalateOverdue(trx, afterCommit, deps, referralId, now),
      )
      if (notified) outcome.escalated += 1
    } catch (error) {
      outcome.failed += 1
      deps.onError(referralId, error)
    }
  }
  return outcome
}

/**
 * The per-referral deadline job of earlier releases (src/jobs/deadlines.ts drains those still queued):
 * escalates the referral if it is overdue, through the same {@link escalateOverdue} as the sweep, so a
 * referral is escalated once whichever gets to it first. Running it again changes nothing.
 */
export async function escalateIfOverdue(deps: DeadlineDeps, referralId: string): Promise<DeadlineOutcome> {
  const now = deps.now()
  const current = await findReferral(deps.db, referralId)
  if (!current || current.escalated_at !== null || current.received_at !== null) return { outcome: 'nothing' }
  if (!(AWAITING_RECEIPT as readonly string[]).includes(current.status)) return { outcome: 'nothing' }
  if (current.ack_due_at > now) return { outcome: 'not-due', dueAt: current.ack_due_at }
  const notified = await transact(deps.db, (trx, afterCommit) =>
    escalateOverdue(trx, afterCommit, deps, referralId, now),
  )
  return notified ? { outcome: 'escalated', notified } : { outcome: 'nothing' }
}
