import { type Static, Type } from 'typebox'
import {
  Cursor,
  DateTime,
  Int64,
  Limit,
  MAX_PAGE_ITEMS,
  Matching,
  NextCursor,
  Text,
  Uuid,
} from '../../lib/schemas.js'

const B64_HASH = '^[A-Za-z0-9+/]{43}=$'
const Hash = Matching(B64_HASH, 44, { description: 'SHA-256, standard base64 with padding' })
const Hashes = (description: string) => Type.Array(Hash, { maxItems: 128, description })
const ACTION = '^[a-z][a-z_.]{0,63}$'
/** The events GET /v1/referrals/{id}/audit lists at most; GET /v1/audit?referralId= pages through all. */
export const MAX_TRAIL_EVENTS = 1000

export const AuditEventSchema = Type.Object(
  {
    seq: Int64(1, { description: 'Place in the log: 1, 2, 3… without gaps (leaf index + 1)' }),
    index: Int64(0, { description: 'Leaf index in the Merkle tree: seq − 1' }),
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
    leafHash: Matching(B64_HASH, 44, {
      description:
        'SHA-256(0x00 ‖ RFC 8785 canonical JSON of this event without index and leafHash), base64: ' +
        'the RFC 9162 leaf hash',
    }),
  },
  { $id: 'AuditEvent', description: 'One sealed event of the audit log: a leaf of its Merkle tree' },
)

export const AuditCheckpointSchema = Type.Object(
  {
    origin: Text(200, { description: 'The log origin (AUDIT_LOG_ORIGIN), first line of the checkpoint' }),
    size: Int64(1, { description: 'Tree size: the number of leaves' }),
    rootHash: Hash,
    at: DateTime,
    note: Text(65_536, {
      description:
        'The C2SP signed note: checkpoint text, blank line, the hub signature line (key name = origin) ' +
        'and every witness cosignature line the hub holds for it (text/plain form of GET /v1/audit/checkpoint)',
    }),
    cosignatures: Type.Array(
      Type.Object({
        name: Text(200),
        time: Int64(0, { description: 'Seconds since the epoch the witness signed at' }),
        line: Text(1000, { description: 'The C2SP tlog-cosignature line' }),
      }),
      { maxItems: 100 },
    ),
  },
  {
    $id: 'AuditCheckpoint',
    description: 'A hub-signed checkpoint of the audit Merkle tree (C2SP tlog-checkpoint)',
  },
)

export const InclusionProofSchema = Type.Object(
  { index: Int64(0), size: Int64(1), hashes: Hashes('RFC 9162 §2.1.3 inclusion proof, leaf side first') },
  { $id: 'InclusionProof' },
)

export const ConsistencyProofSchema = Type.Object(
  { from: Int64(1), to: Int64(1), hashes: Hashes('RFC 9162 §2.1.4 consistency proof') },
  { $id: 'ConsistencyProof' },
)

export const WitnessListSchema = Type.Array(
  Type.Object({ name: Text(200), key: Text(400, { description: 'C2SP vkey: name+keyid+base64(0x04‖key)' }) }),
  { $id: 'WitnessList', maxItems: 100 },
)

export const InclusionQuerySchema = Type.Object(
  { index: Int64(0), size: Int64(1) },
  { additionalProperties: false },
)
export const ConsistencyQuerySchema = Type.Object(
  { from: Int64(1), to: Int64(1) },
  { additionalProperties: false },
)
export const CosignatureBodySchema = Type.Union([
  Text(65_536, { description: 'The checkpoint note with the witness cosignature line(s) (text/plain)' }),
  Type.Object({ note: Text(65_536) }, { additionalProperties: false }),
])

export const TrailEventSchema = Type.Object(
  {
    ...AuditEventSchema.properties,
    proof: Hashes('Inclusion proof of this leaf in the tree of the checkpoint returned with it'),
  },
  { $id: 'TrailEvent', description: 'A sealed event with its inclusion proof' },
)

export const AuditPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('AuditEvent'), { maxItems: MAX_PAGE_ITEMS }), next: NextCursor },
  { $id: 'AuditPage' },
)

export const ReferralAuditTrailSchema = Type.Object(
  {
    referralId: Uuid,
    events: Type.Array(Type.Ref('TrailEvent'), {
      maxItems: MAX_TRAIL_EVENTS,
      description: `The sealed events of the referral by seq, the first ${MAX_TRAIL_EVENTS}; GET /v1/audit?referralId= pages through every one`,
    }),
    checkpoint: Type.Union([Type.Ref('AuditCheckpoint'), Type.Null()], {
      description:
        'The latest checkpoint: every event listed has an inclusion proof against it; null while none is sealed',
    }),
    pending: Int64(0, {
      description: 'Events of the referral recorded but not in the checkpoint yet (they are, within seconds)',
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
  TrailEventSchema,
  AuditPageSchema,
  ReferralAuditTrailSchema,
  InclusionProofSchema,
  ConsistencyProofSchema,
  WitnessListSchema,
]
