import { type Static, Type } from 'typebox'
import { Cursor, DateTime, Limit, Uuid } from '../../lib/schemas.js'

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const

export const DeliverySchema = Type.Object(
  {
    messageId: Uuid,
    referralId: Uuid,
    status: Type.Enum([...DELIVERY_STATUSES], {
      description:
        'pending: being tried; delivered: a 2xx answered; failed: every attempt failed (the inbox still has it)',
    }),
    attempts: Type.Integer({ minimum: 0, description: 'POSTs tried so far' }),
    lastError: Type.Union([Type.String(), Type.Null()], {
      description: 'What went wrong last time, if anything',
    }),
    lastAttemptAt: Type.Union([DateTime, Type.Null()]),
    deliveredAt: Type.Union([DateTime, Type.Null()]),
    createdAt: DateTime,
  },
  { $id: 'WebhookDelivery', description: "One inbox message pushed to the agency's webhook" },
)

export const DeliveryPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('WebhookDelivery')), next: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'WebhookDeliveryPage' },
)

export const DeliveryListQuerySchema = Type.Object(
  {
    status: Type.Optional(Type.Enum([...DELIVERY_STATUSES])),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
)
export type DeliveryListQuery = Static<typeof DeliveryListQuerySchema>

export const DELIVERY_SCHEMAS = [DeliverySchema, DeliveryPageSchema]
