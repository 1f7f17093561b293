import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { AfterCommit } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { newId } from '../../lib/ids.js'
import { insertMessage, type NewInboxMessage } from './inbox.repository.js'
import { outboxChannel } from './outbox.service.js'

export const inboxChannel = (schema: string | undefined) => `trm_inbox_${schema ?? 'public'}`

/**
 * Puts a message in an agency's inbox inside the caller's transaction (with its webhook delivery and
 * job for a push agency), and wakes the agency's long-polls, and the relay for a webhook, on commit.
 */
export async function deliverToInbox(
  db: Kysely<Database>,
  afterCommit: AfterCommit,
  config: Pick<Config, 'databaseSchema'>,
  message: Omit<NewInboxMessage, 'id'>,
): Promise<string> {
  const id = newId()
  const { push } = await insertMessage(db, { ...message, id })
  afterCommit.notify(inboxChannel(config.databaseSchema), message.agencyId)
  if (push) afterCommit.notify(outboxChannel(config.databaseSchema), '')
  return id
}
