import { type Static, Type } from 'typebox'
import {
  Cursor,
  DateTime,
  Int32,
  Limit,
  MAX_PAGE_ITEMS,
  NextCursor,
  Ref,
  Text,
  Uuid,
} from '../../lib/schemas.js'
import { DELIVERY_STATUS_MEANINGS, DELIVERY_STATUSES } from './deliveries.core.js'

export { DELIVERY_STATUSES }

const statusMeanings = DELIVERY_STATUSES.map((s) => `- \`${s}\`: ${DELIVERY_STATUS_MEANINGS[s]}`).join('\n')

export const DeliverySchema = Type.Object(
  {
    messageId: Uuid,
    referralId: Uuid,
    status: Type.Enum([...DELIVERY_STATUSES], { description: statusMeanings }),
    attempts: Int32(0, undefined, { description: 'POSTs tried so far, retries included' }),
    retries: Int32(0, undefined, {
      description:
        'How many times a retry was asked for (POST /v1/deliveries/{messageId}/retry or the bulk form)',
    }),
    lastError: Type.Union([Text(500), Type.Null()], {
      description: 'What went wrong last time, if anything',
    }),
    lastAttemptAt: Type.Union([DateTime, Type.Null()]),
    deliveredAt: Type.Union([DateTime, Type.Null()]),
    createdAt: DateTime,
  },
  { $id: 'WebhookDelivery', description: "One inbox message pushed to the agency's webhook" },
)

export const DeliveryPageSchema = Type.Object(
  { items: Type.Array(Ref(DeliverySchema), { maxItems: MAX_PAGE_ITEMS }), next: NextCursor },
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

export const DeliveryParamsSchema = Type.Object({ messageId: Uuid })

export const DeliveryRetryAllSchema = Type.Object(
  {
    status: Type.Literal('failed', { description: 'Which deliveries to send again: the failed ones' }),
    agencyId: Type.Optional(
      Type.String({
        format: 'uuid',
        maxLength: 36,
        description: "Whose deliveries: the caller's own by default; another agency's for an operator",
      }),
    ),
  },
  { $id: 'WebhookDeliveryRetryAll', additionalProperties: false },
)
export type DeliveryRetryAll = Static<typeof DeliveryRetryAllSchema>

export const DeliveryRetriedSchema = Type.Object(
  { retried: Int32(0, undefined, { description: 'Failed deliveries put back to pending' }) },
  { $id: 'WebhookDeliveriesRetried' },
)

export const DELIVERY_SCHEMAS = [
  DeliverySchema,
  DeliveryPageSchema,
  DeliveryRetryAllSchema,
  DeliveryRetriedSchema,
]
