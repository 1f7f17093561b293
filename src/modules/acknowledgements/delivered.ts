import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { notifyAfterCommit } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { newId } from '../../lib/ids.js'
import { inboxChannel } from '../inbox/inbox.service.js'
import { outboxChannel } from '../outbox/outbox.service.js'
import { moveToDelivered } from '../referrals/referrals.repository.js'
import { deliveredFrom, REFERRAL_STATUSES } from './lifecycle.core.js'

/** The states the lifecycle lets a referral be delivered from (the pure core decides). */
const DELIVERABLE = REFERRAL_STATUSES.filter((status) => deliveredFrom(status) === 'delivered')

/**
 * Moves referrals to `delivered` once the recipient has them (inbox confirmation or a webhook's 2xx)
 * and tells each sender, in one statement whatever their number. Idempotent: a referral delivered
 * already is left alone. Resolves to the ids moved now.
 */
export async function markDelivered(
  db: Kysely<Database>,
  config: Pick<Config, 'databaseSchema'>,
  referralIds: readonly string[],
  via: 'inbox' | 'webhook',
  requestId?: string,
): Promise<string[]> {
  const ids = [...new Set(referralIds)].sort()
  if (ids.length === 0) return []
  const moved = await moveToDelivered(db, {
    ids,
    messageIds: ids.map(() => newId()),
    webhookIds: ids.map(() => newId()),
    from: DELIVERABLE,
    via,
    requestId: requestId ?? null,
    auditDetails: JSON.stringify({ via }),
    statusBody: JSON.stringify({ status: 'delivered', via }),
    webhook: { queue: 'webhooks', jobName: 'deliver' },
  })
  for (const row of moved) {
    await notifyAfterCommit(db, inboxChannel(config.databaseSchema), row.sender_id)
    if (row.push) await notifyAfterCommit(db, outboxChannel(config.databaseSchema), '')
  }
  return moved.map((row) => row.id)
}
