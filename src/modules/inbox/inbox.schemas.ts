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
  Ref,
  Uuid,
} from '../../lib/schemas.js'
import { MAX_JWS_LENGTH } from '../referrals/referrals.schemas.js'

/** What an inbox message can be. */
export const INBOX_MESSAGE_TYPES = [
  'referral',
  'acknowledgement',
  'status',
  'escalation',
  'erasure',
  'onward_referral',
  'evidence',
  'consent_withdrawn',
  'erasure_confirmed',
] as const

export const InboxItemSchema = Type.Object(
  {
    id: Uuid,
    cursor: Cursor,
    type: Type.Enum(INBOX_MESSAGE_TYPES),
    referralId: Uuid,
    createdAt: DateTime,
    jws: Type.Optional(
      CompactJws(MAX_JWS_LENGTH, {
        description: 'The signed referral or acknowledgement, as its author sent it',
      }),
    ),
    acknowledgementId: Type.Optional(Uuid),
    body: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'For status, escalation, erasure, onward_referral and consent messages; an evidence message carries { event, evidence } (evidence: the hub-signed JWS)',
        },
      ),
    ),
  },
  { $id: 'InboxItem' },
)

export const InboxPageSchema = Type.Object(
  {
    items: Type.Array(Ref(InboxItemSchema), { maxItems: MAX_PAGE_ITEMS }),
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
