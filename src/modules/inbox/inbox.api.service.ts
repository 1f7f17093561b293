import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { Database } from '../../db/types.js'
import { decodeCursor } from '../../lib/cursor.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { deliveredMove, notifyDelivered } from '../acknowledgements/delivered.js'
import { signEvidence } from '../evidence/evidence.service.js'
import { type InboxItem, isInboxCursor, toInboxItem } from './inbox.core.js'
import { confirmThrough, findConfirmationEvidence, listMessages } from './inbox.repository.js'
import type { InboxWakeups } from './inbox.wakeups.js'

export interface InboxDeps {
  db: Kysely<Database>
  config: Pick<Config, 'databaseSchema'>
  hubKeys: HubKeys
  wakeups: InboxWakeups
}

export const MAX_WAIT_SECONDS = 30

/**
 * The caller's messages in commit order, from `after` or from the oldest unconfirmed one. With
 * `wait`, an empty read long-polls: it returns as soon as a message is committed for the caller
 * (LISTEN/NOTIFY), or empty at the end of the wait.
 */
export async function readInbox(
  deps: InboxDeps,
  agencyId: string,
  query: { after?: string; limit?: number; wait?: number },
  requestId: string,
  signal?: AbortSignal,
): Promise<{ items: InboxItem[]; next: string | null }> {
  const after = decodeCursor(query.after, isInboxCursor)
  const filter = {
    agencyId,
    limit: query.limit ?? 50,
    ...(after ? { after: { txid: after.x, seq: after.s } } : {}),
  }
  const waitMs = Math.min(query.wait ?? 0, MAX_WAIT_SECONDS) * 1000
  const subscription = waitMs > 0 ? deps.wakeups.subscribe(agencyId) : undefined
  const deadline = Date.now() + waitMs
  const stillWaiting = (pause = 0) =>
    Date.now() + pause < deadline && !signal?.aborted && !deps.wakeups.closing
  // A message that has committed while an older transaction is still running is not readable yet,
  // and that transaction's end wakes no one (it may concern another agency): while a committed
  // message is there but was not read, a waiting read looks again shortly instead of waiting for
  // the next wake-up.
  // The read is audited by the statement that finds messages (only when it finds some).
  const audit = { requestId }
  const read = async () => {
    let found = await listMessages(deps.db, filter, audit)
    for (let pause = 2; found.rows.length === 0 && found.waiting && subscription && stillWaiting(pause); ) {
      await new Promise((resolve) => setTimeout(resolve, pause))
      pause = Math.min(pause * 2, 50)
      found = await listMessages(deps.db, filter, audit)
    }
    return found.rows
  }
  try {
    let rows = await read()
    while (rows.length === 0 && subscription && stillWaiting()) {
      if (!(await subscription.wait(deadline - Date.now(), signal))) break
      rows = await read()
    }
    const items = rows.map(toInboxItem)
    return { items, next: items.at(-1)?.cursor ?? query.after ?? null }
  } finally {
    subscription?.cancel()
  }
}

/**
 * Confirms delivery of everything up to the cursor. A confirmed referral message moves the referral
 * to `delivered` and tells the sender, and gives the sender `delivery` evidence (once per referral),
 * in one statement (at-least-once: confirming twice changes nothing). The evidence is signed first,
 * from a read of what the confirmation will cover (findConfirmationEvidence).
 */
export async function confirmInbox(
  deps: InboxDeps,
  agencyId: string,
  through: string,
  requestId: string,
): Promise<{ confirmed: number }> {
  const cursor = decodeCursor(through, isInboxCursor, '/through')!
  const position = { txid: cursor.x, seq: cursor.s }
  const due = await findConfirmationEvidence(deps.db, agencyId, position)
  const evidence = await signEvidence(deps, 'delivery', due.targets)
  const done = await confirmThrough(
    deps.db,
    { agencyId, through: position, snapshot: due.snapshot, cursor: through, requestId, evidence },
    deliveredMove('inbox', requestId),
  )
  void notifyDelivered(deps.db, deps.config, [...done.delivered, ...done.evidence])
  return { confirmed: done.confirmed }
}
