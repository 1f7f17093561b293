import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { notifyAfterCommit } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { newId } from '../../lib/ids.js'
import { findAgency } from '../agencies/agencies.repository.js'
import { enqueue } from '../outbox/outbox.service.js'
import { appendInboxMessage, insertDelivery, type NewInboxMessage } from './inbox.repository.js'

export const inboxChannel = (schema: string | undefined) => `trm_inbox_${schema ?? 'public'}`

/**
 * Puts a message in an agency's inbox inside the caller's transaction, wakes its long-polls on
 * commit, and for a push agency records a delivery and schedules the webhook through the outbox.
 */
export async function deliverToInbox(
  db: Kysely<Database>,
  config: Pick<Config, 'databaseSchema'>,
  message: Omit<NewInboxMessage, 'id'>,
): Promise<string> {
  const id = newId()
  await appendInboxMessage(db, { ...message, id })
  await notifyAfterCommit(db, inboxChannel(config.databaseSchema), message.agencyId)
  const agency = await findAgency(db, message.agencyId)
  if (agency?.delivery_mode === 'push') {
    await insertDelivery(db, { message_id: id, agency_id: agency.id, referral_id: message.referralId })
    await enqueue(db, config.databaseSchema, {
      queue: 'webhooks',
      name: 'deliver',
      payload: { messageId: id },
    })
  }
  return id
}
