import { Type } from 'typebox'
import {
  CompactJws,
  CountryCode,
  Cursor,
  DateTime,
  HubStatement,
  Int32,
  Limit,
  MAX_PAGE_ITEMS,
  NextCursor,
  Ref,
  Text,
  Uuid,
} from '../../lib/schemas.js'
import { AGENCY_KINDS } from '../agencies/agencies.schemas.js'
import { ACK_TYPES, CLOSE_OUTCOMES, DECLINE_REASONS, REFERRAL_STATUSES } from './lifecycle.core.js'
import { ReferralDocumentSchema, STAGES, URGENCIES, VictimReference } from './referral-document.schema.js'

/**
 * A submitted JWS: a referral whose `sensitive` JWE takes its full 128 KiB is about 180,000
 * characters once signed; the default BODY_LIMIT_BYTES (256 KiB) holds the largest with room to spare.
 */
export const MAX_JWS_LENGTH = 200_000
/** Acknowledgements one referral can take (each listed in its view); the 101st is refused with 409. */
export const MAX_ACKNOWLEDGEMENTS = 100
/** Other referrals with the same linkage token the hub counts (and lists, those the caller is party to). */
export const MAX_LINKED_REFERRALS = 1000

export const SignedSubmissionSchema = Type.Object(
  {
    // Not held to the compact JWS pattern here: a malformed JWS gets its own 422 (TRM_JWS_MALFORMED).
    jws: Text(MAX_JWS_LENGTH, { minLength: 5, description: 'Compact JWS signed by the calling agency' }),
  },
  { $id: 'SignedSubmission', additionalProperties: false },
)

const Party = Type.Object({ agencyId: Uuid, country: CountryCode })
const PossibleDuplicates = Int32(0, MAX_LINKED_REFERRALS, {
  description: `Other referrals the caller is party to (sent or received) that carry the same linkage token (counted up to ${MAX_LINKED_REFERRALS})`,
})
const Receipt = HubStatement('Hub-signed compact JWS, typ trm-receipt+json')

export const ReferralSubmissionResultSchema = Type.Object(
  {
    id: Uuid,
    status: Type.Enum([...REFERRAL_STATUSES]),
    recipient: Party,
    victimReference: VictimReference,
    submittedAt: DateTime,
    ackDueAt: DateTime,
    receipt: Receipt,
    possibleDuplicates: PossibleDuplicates,
  },
  { $id: 'ReferralSubmissionResult' },
)

const summaryProperties = {
  id: Uuid,
  status: Type.Enum([...REFERRAL_STATUSES]),
  sender: Party,
  recipient: Party,
  victimReference: VictimReference,
  urgency: Type.Enum(URGENCIES),
  stage: Type.Enum(STAGES),
  minor: Type.Boolean(),
  submittedAt: DateTime,
  ackDueAt: DateTime,
  receivedAt: Type.Union([DateTime, Type.Null()]),
  overdue: Type.Boolean({ description: 'received was not reached by ackDueAt' }),
  erased: Type.Boolean({ description: 'the signed payload was erased; the skeleton remains' }),
  onwardOf: Type.Union([Uuid, Type.Null()], {
    description: 'Onward referral: the referral this one hands on; null for the first of a chain',
  }),
}

export const ReferralSummarySchema = Type.Object(summaryProperties, { $id: 'ReferralSummary' })

export const AcknowledgementViewSchema = Type.Object(
  {
    id: Uuid,
    type: Type.Enum([...ACK_TYPES]),
    authorId: Uuid,
    reason: Type.Union([Type.Enum([...DECLINE_REASONS]), Type.Null()]),
    outcome: Type.Union([Type.Enum([...CLOSE_OUTCOMES]), Type.Null()]),
    status: Type.Enum([...REFERRAL_STATUSES], {
      description: 'the referral state this acknowledgement led to',
    }),
    submittedAt: DateTime,
    jws: Type.Union([CompactJws(MAX_JWS_LENGTH), Type.Null()]),
    receipt: Receipt,
  },
  { $id: 'AcknowledgementView' },
)

/** Onward links listed under one referral: a chain is a handful of agencies. */
export const MAX_ONWARD_LINKS = 100

export const OnwardLinkSchema = Type.Object(
  {
    id: Uuid,
    onwardOf: Uuid,
    recipient: Type.Object({
      agencyId: Uuid,
      country: CountryCode,
      kind: Type.Enum([...AGENCY_KINDS]),
    }),
    createdAt: DateTime,
    status: Type.Enum([...REFERRAL_STATUSES]),
  },
  {
    $id: 'OnwardLink',
    description:
      'A link further down the chain: who took the case on and where it stands, never its document',
  },
)

export const ReferralViewSchema = Type.Object(
  {
    ...summaryProperties,
    receipt: Receipt,
    jws: Type.Union([CompactJws(MAX_JWS_LENGTH), Type.Null()], {
      description: "The sender's JWS as received; null once erased",
    }),
    acknowledgements: Type.Array(Ref(AcknowledgementViewSchema), { maxItems: MAX_ACKNOWLEDGEMENTS }),
    possibleDuplicates: PossibleDuplicates,
    possibleDuplicateIds: Type.Array(Uuid, {
      maxItems: MAX_LINKED_REFERRALS,
      description: 'Their ids',
    }),
    onward: Type.Array(Ref(OnwardLinkSchema), {
      maxItems: MAX_ONWARD_LINKS,
      description: 'The onward referrals below this one (handing it on, and so on), oldest first',
    }),
  },
  { $id: 'ReferralView' },
)

export const ReferralPageSchema = Type.Object(
  { items: Type.Array(Ref(ReferralSummarySchema), { maxItems: MAX_PAGE_ITEMS }), next: NextCursor },
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
  OnwardLinkSchema,
  ReferralViewSchema,
  ReferralPageSchema,
]
