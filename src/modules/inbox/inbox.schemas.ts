import { Type } from 'typebox'
import {
  CompactJws,
  Cursor,
  DateTime,
  Int32,
  Int64,
  Limit,
  MAX_PAGE_ITEMS,
  NextCursor,
  Uuid,
} from '../../lib/schemas.js'
import { MAX_JWS_LENGTH } from '../referrals/referrals.schemas.js'

export const InboxItemSchema = Type.Object(
  {
    id: Uuid,
    cursor: Cursor,
    type: Type.Enum(['referral', 'acknowledgement', 'status', 'escalation', 'erasure']),
    referralId: Uuid,
    createdAt: DateTime,
    jws: Type.Optional(
      CompactJws(MAX_JWS_LENGTH, {
        description: 'The signed referral or acknowledgement, as its author sent it',
      }),
    ),
    acknowledgementId: Type.Optional(Uuid),
    body: Type.Optional(
      Type.Object({}, { additionalProperties: true, description: 'For status and escalation messages' }),
    ),
  },
  { $id: 'InboxItem' },
)

export const InboxPageSchema = Type.Object(
  {
    items: Type.Array(Type.Ref('InboxItem'), { maxItems: MAX_PAGE_ITEMS }),
    next: NextCursor,
  },
  { $id: 'InboxPage' },
)

export const InboxQuerySchema = Type.Object(
  {
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
    wait: Type.Optional(Int32(0, 30, { description: 'Long-poll up to this many seconds' })),
  },
  { additionalProperties: false },
)

export const InboxConfirmSchema = Type.Object(
  { through: Cursor },
  { $id: 'InboxConfirm', additionalProperties: false },
)

export const InboxConfirmedSchema = Type.Object(
  { confirmed: Int64(0, { description: 'Messages confirmed by this call' }) },
  { $id: 'InboxConfirmed' },
)

export const INBOX_SCHEMAS = [InboxItemSchema, InboxPageSchema, InboxConfirmSchema, InboxConfirmedSchema]
