import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { transact } from '../../db/after-commit.js'
import type { Database, DeliveryRow } from '../../db/types.js'
import { decodeCursor, encodeCursor, isIdCursor } from '../../lib/cursor.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { deliveredMove, notifyDelivered } from '../acknowledgements/delivered.js'
import type { EvidenceTarget } from '../evidence/evidence.repository.js'
import { issueEvidence, signEvidence } from '../evidence/evidence.service.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { cancelUndeliverable as cancelUndeliverableDeliveries } from '../ledger/deliveries.repository.js'
import * as repo from './deliveries.repository.js'

export interface DeliveryView {
  messageId: string
  referralId: string
  status: repo.DeliveryStatus
  attempts: number
  retries: number
  lastError: string | null
  lastAttemptAt: string | null
  deliveredAt: string | null
  createdAt: string
}

export function toDeliveryView(row: DeliveryRow): DeliveryView {
  return {
    messageId: row.message_id,
    referralId: row.referral_id,
    status: row.status,
    attempts: row.attempts,
    retries: row.retries,
    lastError: row.last_error,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  }
}

/** The caller's webhook deliveries, newest first; `next` continues with older ones. */
export async function listDeliveries(
  deps: { db: Kysely<Database> },
  callerId: string,
  query: { status?: repo.DeliveryStatus; after?: string; limit?: number },
): Promise<{ items: DeliveryView[]; next: string | null }> {
  const limit = query.limit ?? 50
  const after = decodeCursor(query.after, isIdCursor)
  const rows = await repo.listDeliveries(deps.db, {
    agencyId: callerId,
    ...(query.status ? { status: query.status } : {}),
    ...(after ? { beforeId: after.id } : {}),
    limit,
  })
  const last = rows.at(-1)
  return {
    items: rows.map(toDeliveryView),
    next: rows.length === limit && last ? encodeCursor({ id: last.message_id }) : null,
  }
}

export interface AttemptDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
  hubKeys: HubKeys
}

interface Delivered {
  messageId: string
  agencyId: string
  type: string
  referralId: string
  httpStatus: number
  /** For a referral's own message, what the sender's `delivery` evidence is made of. */
  evidenceTarget?: EvidenceTarget | null
}

/**
 * Records a webhook's 2xx in one statement: the delivery, the inbox message confirmed, the audit
 * event and a referral moved to `delivered`, which tells its sender, and for a referral's own message
 * the sender's `delivery` evidence (signed first; stored once). False when it already was delivered.
 */
export async function recordDelivered(deps: AttemptDeps, delivered: Delivered): Promise<boolean> {
  const referralMessage = delivered.type === 'referral'
  const evidence =
    referralMessage && delivered.evidenceTarget
      ? await signEvidence(deps, 'delivery', [delivered.evidenceTarget])
      : []
  const recorded = await repo.recordWebhookSuccess(
    deps.db,
    { messageId: delivered.messageId, httpStatus: delivered.httpStatus, referralMessage, evidence },
    deliveredMove('webhook'),
  )
  if (!recorded) return false
  void notifyDelivered(deps.db, deps.config, [...recorded.delivered, ...recorded.evidence])
  return true
}

const MAX_ERROR_LENGTH = 500

/**
 * Records a failed attempt of job `retry` (0 for the first job, n for the job of the n-th retry); the
 * final one marks the delivery `failed` (the dead-letter state) and is audited, and for a referral
 * still unconfirmed in the recipient's inbox issues `non_delivery` evidence. A delivery that is not
 * pending any more (cancelled, or delivered by an earlier attempt) or belongs to a newer job is left
 * alone. The message stays in the agency's inbox either way.
 */
export function recordFailedAttempt(
  deps: AttemptDeps,
  failed: {
    messageId: string
    agencyId: string
    referralId: string
    retry: number
    error: string
    final: boolean
  },
): Promise<void> {
  return transact(deps.db, async (trx, afterCommit) => {
    const row = await repo.lockDelivery(trx, failed.messageId)
    if (row?.status !== 'pending' || row.retries !== failed.retry) return
    const updated = await repo.updateAfterAttempt(trx, failed.messageId, {
      status: failed.final ? 'failed' : 'pending',
      lastError: failed.error.slice(0, MAX_ERROR_LENGTH),
    })
    if (!failed.final) return
    await auditWebhook(trx, 'webhook.failed', failed, {
      attempts: updated.attempts,
      lastError: updated.last_error,
    })
    // A referral's own message the recipient has not confirmed in its inbox either: the sender gets
    // `non_delivery` evidence (once; never after a delivery).
    if (await repo.lockUnconfirmedReferralMessage(trx, failed.messageId)) {
      await issueEvidence(trx, afterCommit, deps, { event: 'non_delivery', referralIds: [failed.referralId] })
    }
  })
}

/**
 * A pending delivery whose agency takes no webhooks any more (it switched to pull) ends `cancelled`,
 * audited as the hub's doing. False when it was not cancelled: the agency is push again, or the
 * delivery is no longer pending.
 */
export async function cancelUndeliverable(deps: AttemptDeps, messageId: string): Promise<boolean> {
  return (
    (await cancelUndeliverableDeliveries(deps.db, { messageId }, { actor: 'system', requestId: null })) > 0
  )
}

/** The audit event of a webhook's outcome: by the hub itself, on the inbox message it carried. */
function auditWebhook(
  db: Kysely<Database>,
  action: 'webhook.delivered' | 'webhook.failed',
  message: { messageId: string; agencyId: string; referralId: string },
  details: Record<string, string | number | null>,
) {
  return recordAuditEvent(db, {
    actor: 'system',
    action,
    target: { type: 'inbox_message', id: message.messageId },
    referralId: message.referralId,
    outcome: action === 'webhook.delivered' ? 'success' : 'failed',
    details: { agencyId: message.agencyId, ...details },
  })
}
