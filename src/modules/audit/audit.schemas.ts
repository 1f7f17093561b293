import { type Static, Type } from 'typebox'
import { Cursor, DateTime, Limit, Uuid } from '../../lib/schemas.js'

const Hash = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Lowercase hex SHA-256' })

export const AuditEventSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'Place in the chain: 1, 2, 3… without gaps' }),
    at: Type.String({
      format: 'date-time',
      description: 'When the event was recorded: UTC with microseconds, exactly as hashed',
    }),
    actor: Type.String({ description: 'The agency id that acted, or `system`' }),
    action: Type.String({ description: 'What happened, e.g. referral.submitted, referral.read' }),
    target: Type.Object({ type: Type.String(), id: Type.String() }),
    referralId: Type.Union([Uuid, Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
    outcome: Type.Enum(['success', 'refused', 'failed']),
    details: Type.Record(
      Type.String(),
      Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
      {
        description: 'Ids, codes and counts; never victim data',
      },
    ),
    prevHash: Hash,
    hash: Type.String({
      pattern: '^[0-9a-f]{64}$',
      description:
        'SHA-256 over prevHash (hex) followed by the RFC 8785 canonical JSON of this event without ' +
        'prevHash and hash; the first event has 64 zeros as prevHash',
    }),
  },
  { $id: 'AuditEvent', description: 'One sealed event of the tamper-evident audit log' },
)

export const AuditCheckpointSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'The last event this checkpoint covers' }),
    hash: Hash,
    at: DateTime,
    jws: Type.String({
      description:
        'Compact JWS by the hub (EdDSA, typ trm-checkpoint+json, kid in /.well-known/jwks.json) ' +
        'over { seq, hash, at }',
    }),
  },
  { $id: 'AuditCheckpoint', description: 'A hub-signed statement of the head of the audit chain' },
)

export const AuditPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('AuditEvent')), next: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'AuditPage' },
)

export const ReferralAuditTrailSchema = Type.Object(
  {
    referralId: Uuid,
    events: Type.Array(Type.Ref('AuditEvent'), { description: 'Every sealed event of the referral, by seq' }),
    checkpoint: Type.Union([Type.Ref('AuditCheckpoint'), Type.Null()], {
      description: 'The first checkpoint covering the last event listed; null while none is sealed',
    }),
    pending: Type.Integer({
      minimum: 0,
      description: 'Events of the referral recorded but not sealed yet (they are, within seconds)',
    }),
  },
  { $id: 'ReferralAuditTrail' },
)

export const AuditListQuerySchema = Type.Object(
  {
    referralId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ pattern: '^[a-z][a-z_.]{0,63}$' })),
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
