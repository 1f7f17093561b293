import type { InboxMessageRow } from '../../db/types.js'
import { encodeCursor } from '../../lib/cursor.js'

/** One inbox message as agencies see it: in `GET /v1/inbox` and as the body of a webhook POST. */
export interface InboxItem {
  id: string
  cursor: string
  type: string
  referralId: string
  createdAt: string
  jws?: string
  acknowledgementId?: string
  body?: Record<string, unknown>
}

/** The page cursor of an inbox message: its per-agency sequence number. */
export const inboxCursor = (seq: number): string => encodeCursor({ s: seq })

/** Maps an inbox row to its wire shape; members without a value are left out, not null. */
export function toInboxItem(row: InboxMessageRow): InboxItem {
  return {
    id: row.id,
    cursor: inboxCursor(row.seq),
    type: row.type,
    referralId: row.referral_id,
    createdAt: row.created_at.toISOString(),
    ...(row.jws !== null ? { jws: row.jws } : {}),
    ...(row.acknowledgement_id !== null ? { acknowledgementId: row.acknowledgement_id } : {}),
    ...(row.body !== null ? { body: row.body } : {}),
  }
}
