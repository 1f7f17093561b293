import { Type } from 'typebox'
import { EVIDENCE_EVENTS } from '../../lib/evidence.js'
import { DateTime, HubStatement, Ref, Uuid } from '../../lib/schemas.js'

export const EvidenceSchema = Type.Object(
  {
    event: Type.Enum(EVIDENCE_EVENTS, {
      description:
        'delivery: the recipient confirmed the referral in its inbox or its webhook answered 2xx; ' +
        'retrieval: the recipient first read the referral; non_delivery: the webhook failed finally ' +
        'and the inbox copy is unconfirmed; non_retrieval: not retrieved by the acknowledgement deadline',
    }),
    at: DateTime,
    recipient: Uuid,
    jws: HubStatement(
      'Compact JWS (typ trm-evidence+jws, EdDSA, a key of /.well-known/jwks.json) over ' +
        '{ referralId, event, at, recipient, payloadSha256 }',
    ),
  },
  { $id: 'Evidence' },
)

export const EvidenceListSchema = Type.Object(
  { items: Type.Array(Ref(EvidenceSchema), { maxItems: EVIDENCE_EVENTS.length }) },
  { $id: 'EvidenceList' },
)

export const EVIDENCE_SCHEMAS = [EvidenceSchema, EvidenceListSchema]
