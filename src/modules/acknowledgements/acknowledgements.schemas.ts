import { type Static, Type } from 'typebox'
import { DateTime, Uuid } from '../../lib/schemas.js'
import { ACK_TYPES, CLOSE_OUTCOMES, DECLINE_REASONS } from './lifecycle.core.js'

/** The acknowledgement an agency signs (JWS payload, `typ: trm-ack+json`). */
export const AcknowledgementDocumentSchema = Type.Object(
  {
    id: Uuid,
    referralId: Uuid,
    type: Type.Enum([...ACK_TYPES]),
    reason: Type.Optional(Type.Enum([...DECLINE_REASONS], { description: 'Required with declined' })),
    outcome: Type.Optional(Type.Enum([...CLOSE_OUTCOMES], { description: 'Required with closed' })),
    note: Type.Optional(
      Type.String({ maxLength: 500, description: 'Short and non-identifying; details go in sensitive' }),
    ),
    createdAt: Type.String({ format: 'date-time', maxLength: 40 }),
    sensitive: Type.Optional(
      Type.String({
        maxLength: 131_072,
        pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
        description: "Compact JWE to one of the other party's enc keys",
      }),
    ),
  },
  { $id: 'AcknowledgementDocument', additionalProperties: false },
)
export type AcknowledgementDocument = Static<typeof AcknowledgementDocumentSchema>

export const AcknowledgementResultSchema = Type.Object(
  {
    id: Uuid,
    referralId: Uuid,
    type: Type.String(),
    status: Type.String({ description: "The referral's state after this acknowledgement" }),
    submittedAt: DateTime,
    receipt: Type.String({ description: 'Hub-signed compact JWS, typ trm-receipt+json' }),
  },
  { $id: 'AcknowledgementResult' },
)

export const ACKNOWLEDGEMENT_SCHEMAS = [AcknowledgementDocumentSchema, AcknowledgementResultSchema]
export const ACK_TYP = 'trm-ack+json'
