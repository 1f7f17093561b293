import { Type } from 'typebox'
import { Cursor, DateTime, Limit, Uuid } from '../../lib/schemas.js'
import { REFERRAL_STATUSES } from '../acknowledgements/lifecycle.core.js'
import { ReferralDocumentSchema } from './referral-document.schema.js'

export const SignedSubmissionSchema = Type.Object(
  {
    jws: Type.String({
      minLength: 5,
      maxLength: 200_000,
      description: 'Compact JWS signed by the calling agency',
    }),
  },
  { $id: 'SignedSubmission', additionalProperties: false },
)

const Party = Type.Object({ agencyId: Uuid, country: Type.String() })

export const ReferralSubmissionResultSchema = Type.Object(
  {
    id: Uuid,
    status: Type.String(),
    recipient: Party,
    victimReference: Type.String(),
    submittedAt: DateTime,
    ackDueAt: DateTime,
    receipt: Type.String({ description: 'Hub-signed compact JWS, typ trm-receipt+json' }),
    possibleDuplicates: Type.Integer({
      description: 'Other referrals you are party to (sent or received) that carry the same linkage token',
    }),
  },
  { $id: 'ReferralSubmissionResult' },
)

const summaryProperties = {
  id: Uuid,
  status: Type.Enum([...REFERRAL_STATUSES]),
  sender: Party,
  recipient: Party,
  victimReference: Type.String(),
  urgency: Type.String(),
  stage: Type.String(),
  minor: Type.Boolean(),
  submittedAt: DateTime,
  ackDueAt: DateTime,
  receivedAt: Type.Union([DateTime, Type.Null()]),
  overdue: Type.Boolean({ description: 'received was not reached by ackDueAt' }),
  erased: Type.Boolean({ description: 'the signed payload was erased; the skeleton remains' }),
}

export const ReferralSummarySchema = Type.Object(summaryProperties, { $id: 'ReferralSummary' })

export const AcknowledgementViewSchema = Type.Object(
  {
    id: Uuid,
    type: Type.String(),
    authorId: Uuid,
    reason: Type.Union([Type.String(), Type.Null()]),
    outcome: Type.Union([Type.String(), Type.Null()]),
    status: Type.String({ description: 'the referral state this acknowledgement led to' }),
    submittedAt: DateTime,
    jws: Type.Union([Type.String(), Type.Null()]),
    receipt: Type.String(),
  },
  { $id: 'AcknowledgementView' },
)

export const ReferralViewSchema = Type.Object(
  {
    ...summaryProperties,
    receipt: Type.String(),
    jws: Type.Union([Type.String(), Type.Null()], {
      description: "The sender's JWS as received; null once erased",
    }),
    acknowledgements: Type.Array(Type.Ref('AcknowledgementView')),
    possibleDuplicates: Type.Integer({
      description: 'Other referrals the caller is party to that carry the same linkage token',
    }),
    possibleDuplicateIds: Type.Array(Uuid, { description: 'Their ids' }),
  },
  { $id: 'ReferralView' },
)

export const ReferralPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('ReferralSummary')), next: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'ReferralPage' },
)

export const ReferralListQuerySchema = Type.Object(
  {
    role: Type.Optional(Type.Enum(['sent', 'received'])),
    status: Type.Optional(Type.Enum([...REFERRAL_STATUSES])),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
)

export const REFERRAL_SCHEMAS = [
  ReferralDocumentSchema,
  SignedSubmissionSchema,
  ReferralSubmissionResultSchema,
  ReferralSummarySchema,
  AcknowledgementViewSchema,
  ReferralViewSchema,
  ReferralPageSchema,
]
