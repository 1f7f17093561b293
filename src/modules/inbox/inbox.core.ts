import type { Static } from 'typebox'
import type { InboxMessageRow } from '../../db/types.js'
import { encodeCursor } from '../../lib/cursor.js'
import { oneOf } from '../../lib/one-of.js'
import { INBOX_MESSAGE_TYPES, type InboxItemSchema } from './inbox.schemas.js'

export type InboxItem = Static<typeof InboxItemSchema>

/** A position in an inbox: the writing transaction's id (xid8, as digits) and the message's seq. */
export const inboxCursor = (txid: string, seq: number) => encodeCursor({ x: txid, s: seq })

export const isInboxCursor = (v: Record<string, unknown>): v is { x: string; s: number } =>
  typeof v['x'] === 'string' &&
  /^[0-9]{1,20}$/.test(v['x']) &&
  typeof v['s'] === 'number' &&
  Number.isSafeInteger(v['s']) &&
  v['s'] >= 0

/** The wire shape of one inbox message (also the body of its webhook). */
export function toInboxItem(row: InboxMessageRow): InboxItem {
  return {
    id: row.id,
    cursor: inboxCursor(row.txid, row.seq),
    type: oneOf(INBOX_MESSAGE_TYPES, row.type),
    referralId: row.referral_id,
    createdAt: row.created_at.toISOString(),
    ...(row.jws ? { jws: row.jws } : {}),
    ...(row.acknowledgement_id ? { acknowledgementId: row.acknowledgement_id } : {}),
    ...(row.body ? { body: row.body } : {}),
  }
}
