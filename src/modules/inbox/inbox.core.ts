import type { InboxMessageRow } from '../../db/types.js'
import { encodeCursor } from '../../lib/cursor.js'

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

export const inboxCursor = (seq: number) => encodeCursor({ s: seq })

export const isInboxCursor = (v: Record<string, unknown>): v is { s: number } =>
  typeof v['s'] === 'number' && Number.isSafeInteger(v['s']) && v['s'] >= 0

/** The wire shape of one inbox message (also the body of its webhook). */
export function toInboxItem(row: InboxMessageRow): InboxItem {
  return {
    id: row.id,
    cursor: inboxCursor(row.seq),
    type: row.type,
    referralId: row.referral_id,
    createdAt: row.created_at.toISOString(),
    ...(row.jws ? { jws: row.jws } : {}),
    ...(row.acknowledgement_id ? { acknowledgementId: row.acknowledgement_id } : {}),
    ...(row.body ? { body: row.body } : {}),
  }
}
