import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { notifyShortly } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { inboxChannel } from '../ledger/inbox.service.js'
import { outboxChannel } from '../ledger/outbox.service.js'
import { deliveredFrom, REFERRAL_STATUSES } from '../referrals/lifecycle.core.js'
import type { DeliveredMove, DeliveredReferral } from '../referrals/referrals.repository.js'

/** The states the lifecycle lets a referral be delivered from (the pure core decides). */
const DELIVERABLE = REFERRAL_STATUSES.filter((status) => deliveredFrom(status) === 'delivered')

/**
 * How a referral moves to `delivered` once the recipient has it (inbox confirmation or a webhook's
 * 2xx): the statement that records the delivery moves it too (referrals.repository deliveredCtes),
 * records the audit event and tells the sender. Idempotent: a referral delivered already is left alone.
 */
export function deliveredMove(via: 'inbox' | 'webhook', requestId?: string): DeliveredMove {
  return {
    from: DELIVERABLE,
    via,
    requestId: requestId ?? null,
    auditDetails: JSON.stringify({ via }),
    statusBody: JSON.stringify({ status: 'delivered', via }),
  }
}

/**
 * Wakes the senders told of a delivery (or given its evidence), and the outbox relay when one of
 * them takes webhooks: with the wake-ups of the next few milliseconds, in one statement (see
 * notifyShortly; the caller's answer does not wait for it).
 */
export function notifyDelivered(
  db: Kysely<Database>,
  config: Pick<Config, 'databaseSchema'>,
  delivered: readonly Pick<DeliveredReferral, 'sender_id' | 'push'>[],
): Promise<void> {
  if (delivered.length === 0) return Promise.resolve()
  const notifications = new Map([
    [inboxChannel(config.databaseSchema), new Set(delivered.map((d) => d.sender_id))],
  ])
  if (delivered.some((d) => d.push)) notifications.set(outboxChannel(config.databaseSchema), new Set(['']))
  return notifyShortly(db, notifications)
}
