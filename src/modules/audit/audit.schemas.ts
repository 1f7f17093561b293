import { type Static, Type } from 'typebox'
import {
  Cursor,
  DateTime,
  HubStatement,
  Int64,
  Limit,
  MAX_PAGE_ITEMS,
  Matching,
  NextCursor,
  Text,
  Uuid,
} from '../../lib/schemas.js'

const HASH = '^[0-9a-f]{64}$'
const Hash = Matching(HASH, 64, { description: 'Lowercase hex SHA-256' })
const ACTION = '^[a-z][a-z_.]{0,63}$'
/** The events GET /v1/referrals/{id}/audit lists at most; GET /v1/audit?referralId= pages through all. */
export const MAX_TRAIL_EVENTS = 1000

export const AuditEventSchema = Type.Object(
  {
    seq: Int64(1, { description: 'Place in the chain: 1, 2, 3… without gaps' }),
    at: Type.String({
      format: 'date-time',
      maxLength: 40,
      description: 'When the event was recorded: UTC with microseconds, exactly as hashed',
    }),
    actor: Text(100, {
      description:
        'The agency id that acted, `system` (the hub itself), or `anonymous` (a caller whose signature did not verify; see details.claimedIssuer)',
    }),
    action: Matching(ACTION, 64, { description: 'What happened, e.g. referral.submitted, referral.read' }),
    target: Type.Object({ type: Matching('^[a-z_]{1,50}$', 50), id: Text(300) }),
    referralId: Type.Union([Uuid, Type.Null()]),
    requestId: Type.Union([Text(100), Type.Null()]),
    outcome: Type.Enum(['success', 'refused', 'failed']),
    details: Type.Record(
      Type.String(),
      Type.Union([Text(1000), Type.Number(), Type.Boolean(), Type.Null()]),
      {
        maxProperties: 20,
        description: 'Ids, codes and counts; never victim data',
      },
    ),
    prevHash: Hash,
    hash: Matching(HASH, 64, {
      description:
        'SHA-256 over prevHash (hex) followed by the RFC 8785 canonical JSON of this event without ' +
        'prevHash and hash; the first event has 64 zeros as prevHash',
    }),
  },
  { $id: 'AuditEvent', description: 'One sealed event of the tamper-evident audit log' },
)

export const AuditCheckpointSchema = Type.Object(
  {
    seq: Int64(1, { description: 'The last event this checkpoint covers' }),
    hash: Hash,
    at: DateTime,
    jws: HubStatement(
      'Compact JWS by the hub (EdDSA, typ trm-checkpoint+json, kid in /.well-known/jwks.json) ' +
        'over { seq, hash, at }',
    ),
  },
  { $id: 'AuditCheckpoint', description: 'A hub-signed statement of the head of the audit chain' },
)

export const AuditPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('AuditEvent'), { maxItems: MAX_PAGE_ITEMS }), next: NextCursor },
  { $id: 'AuditPage' },
)

export const ReferralAuditTrailSchema = Type.Object(
  {
    referralId: Uuid,
    events: Type.Array(Type.Ref('AuditEvent'), {
      maxItems: MAX_TRAIL_EVENTS,
      description: `The sealed events of the referral by seq, the first ${MAX_TRAIL_EVENTS}; GET /v1/audit?referralId= pages through every one`,
    }),
    checkpoint: Type.Union([Type.Ref('AuditCheckpoint'), Type.Null()], {
      description: 'The first checkpoint covering the last event listed; null while none is sealed',
    }),
    pending: Int64(0, {
      description: 'Events of the referral recorded but not sealed yet (they are, within seconds)',
    }),
  },
  { $id: 'ReferralAuditTrail' },
)

export const AuditListQuerySchema = Type.Object(
  {
    referralId: Type.Optional(Uuid),
    action: Type.Optional(Matching(ACTION, 64)),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
)
export type AuditListQuery = Static<typeof AuditListQuerySchema>

export const AUDIT_SCHEMAS = [
  AuditEventSchema,
  AuditCheckpointSchema,
  AuditPageSchema,
  ReferralAuditTrailSchema,
]
