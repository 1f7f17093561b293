import { type Static, Type } from 'typebox'
import { CompactJwe, DateTime, HubStatement, Text, Uuid } from '../../lib/schemas.js'
import {
  ACK_TYPES,
  CLOSE_OUTCOMES,
  CONSENT_SCOPES_WITHDRAWN,
  DECLINE_REASONS,
  REFERRAL_STATUSES,
} from '../referrals/lifecycle.core.js'
import { MAX_SENSITIVE_LENGTH } from '../referrals/referral-document.schema.js'

/** The acknowledgement an agency signs (JWS payload, `typ: trm-ack+json`). */
export const AcknowledgementDocumentSchema = Type.Object(
  {
    id: Uuid,
    referralId: Uuid,
    type: Type.Enum([...ACK_TYPES]),
    reason: Type.Optional(Type.Enum([...DECLINE_REASONS], { description: 'Required with declined' })),
    outcome: Type.Optional(Type.Enum([...CLOSE_OUTCOMES], { description: 'Required with closed' })),
    scope: Type.Optional(
      Type.Enum([...CONSENT_SCOPES_WITHDRAWN], {
        description: 'Required with consent_withdrawn: what is withdrawn',
      }),
    ),
    note: Type.Optional(Text(500, { description: 'Short and non-identifying; details go in sensitive' })),
    createdAt: DateTime,
    sensitive: Type.Optional(
      CompactJwe(MAX_SENSITIVE_LENGTH, { description: "Compact JWE to one of the other party's enc keys" }),
    ),
  },
  { $id: 'AcknowledgementDocument', additionalProperties: false },
)
export type AcknowledgementDocument = Static<typeof AcknowledgementDocumentSchema>

export const AcknowledgementResultSchema = Type.Object(
  {
    id: Uuid,
    referralId: Uuid,
    type: Type.Enum([...ACK_TYPES]),
    status: Type.Enum([...REFERRAL_STATUSES], {
      description: "The referral's state after this acknowledgement",
    }),
    submittedAt: DateTime,
    receipt: HubStatement('Hub-signed compact JWS, typ trm-receipt+json'),
  },
  { $id: 'AcknowledgementResult' },
)

export const ACKNOWLEDGEMENT_SCHEMAS = [AcknowledgementDocumentSchema, AcknowledgementResultSchema]
export const ACK_TYP = 'trm-ack+json'
