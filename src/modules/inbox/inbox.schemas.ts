import { Type } from 'typebox'
import { Cursor, DateTime, Limit, Uuid } from '../../lib/schemas.js'

export const InboxItemSchema = Type.Object(
  {
    id: Uuid,
    cursor: Type.String(),
    type: Type.Enum(['referral', 'acknowledgement', 'status', 'escalation', 'erasure']),
    referralId: Uuid,
    createdAt: DateTime,
    jws: Type.Optional(
      Type.String({ description: 'The signed referral or acknowledgement, as its author sent it' }),
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
    items: Type.Array(Type.Ref('InboxItem')),
    next: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `after` for the following page' }),
  },
  { $id: 'InboxPage' },
)

export const InboxQuerySchema = Type.Object(
  {
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30, description: 'Long-poll up to this many seconds' }),
    ),
  },
  { additionalProperties: false },
)

export const InboxConfirmSchema = Type.Object(
  { through: Cursor },
  { $id: 'InboxConfirm', additionalProperties: false },
)

export const INBOX_SCHEMAS = [InboxItemSchema, InboxPageSchema, InboxConfirmSchema]
