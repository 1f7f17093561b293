import { type Static, Type } from 'typebox'
import {
  BASE64URL,
  CountryCode,
  Cursor,
  DateTime,
  KeyId,
  Limit,
  MAX_PAGE_ITEMS,
  Matching,
  NextCursor,
  Ref,
  Text,
  Uuid,
} from '../../lib/schemas.js'

/** Keys an agency can hold, revoked ones included (they stay listed so old signatures remain checkable). */
export const MAX_AGENCY_KEYS = 100
/** Keys registered with a new agency at once. */
const MAX_NEW_AGENCY_KEYS = 20
const AgencyName = Text(200, { minLength: 1 })
/** A coordinate of a P-256, Ed25519 or X25519 public key: 43 base64url characters. */
const Coordinate = Matching(BASE64URL, 100)

const KEY_TYPES = ['EC', 'OKP'] as const
const CURVES = ['P-256', 'Ed25519', 'X25519'] as const
const KEY_USES = ['sig', 'enc'] as const
const KEY_ALGS = ['ES256', 'EdDSA', 'ECDH-ES+A256KW'] as const

export const AGENCY_KINDS = [
  'ngo',
  'national_agency',
  'law_enforcement',
  'prosecution',
  'social_services',
  'child_protection',
  'consular',
  'labour_inspection',
  'hub_operator',
] as const
export type AgencyKind = (typeof AGENCY_KINDS)[number]

export const AgencyKindSchema = Type.Enum(AGENCY_KINDS, { $id: 'AgencyKind' })

/**
 * A public JWK as registered. Further members are accepted on input so that private members can be
 * named in the refusal; only kty, crv, x, y, kid, use and alg are stored and shown.
 */
/** The members of a public key the hub stores and shows. */
const jwkMembers = {
  kty: Type.Enum(KEY_TYPES),
  crv: Type.Enum(CURVES),
  x: Coordinate,
  y: Type.Optional(Coordinate),
  kid: KeyId,
  use: Type.Enum(KEY_USES),
  alg: Type.Enum(KEY_ALGS),
}

export const PublicJwkSchema = Type.Object(jwkMembers, {
  $id: 'PublicJwk',
  additionalProperties: true,
  maxProperties: 30,
})
export type PublicJwk = Static<typeof PublicJwkSchema>

export const RegisteredKeySchema = Type.Object(
  {
    ...jwkMembers,
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    createdAt: DateTime,
    revokedAt: Type.Optional(DateTime),
  },
  { $id: 'RegisteredKey', additionalProperties: false },
)
export type RegisteredKey = Static<typeof RegisteredKeySchema>

export const DeliverySchema = Type.Union(
  [
    Type.Object({ mode: Type.Literal('pull') }, { additionalProperties: false }),
    Type.Object(
      { mode: Type.Literal('push'), url: Type.String({ format: 'uri', maxLength: 2000 }) },
      { additionalProperties: false },
    ),
  ],
  { $id: 'Delivery' },
)
export type Delivery = Static<typeof DeliverySchema>

export const AgencyCreateSchema = Type.Object(
  {
    name: AgencyName,
    country: CountryCode,
    kind: Ref(AgencyKindSchema),
    nationalContactPoint: Type.Optional(Type.Boolean({ default: false })),
    delivery: Type.Optional(Ref(DeliverySchema)),
    jwks: Type.Object(
      { keys: Type.Array(Ref(PublicJwkSchema), { minItems: 1, maxItems: MAX_NEW_AGENCY_KEYS }) },
      { additionalProperties: false },
    ),
  },
  { $id: 'AgencyCreate', additionalProperties: false },
)
export type AgencyCreate = Static<typeof AgencyCreateSchema>

export const AgencyJwksSchema = Type.Object(
  { keys: Type.Array(Ref(RegisteredKeySchema), { maxItems: MAX_AGENCY_KEYS }) },
  { $id: 'AgencyJwks', description: "An agency's keys, revoked ones included, as a JWKS" },
)

export const AgencySchema = Type.Object(
  {
    id: Uuid,
    name: AgencyName,
    country: CountryCode,
    kind: Ref(AgencyKindSchema),
    nationalContactPoint: Type.Boolean(),
    status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
    delivery: Ref(DeliverySchema),
    jwks: Ref(AgencyJwksSchema),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'Agency', additionalProperties: false },
)
export type Agency = Static<typeof AgencySchema>

export const AgencyPatchSchema = Type.Object(
  {
    name: Type.Optional(AgencyName),
    kind: Type.Optional(Ref(AgencyKindSchema)),
    nationalContactPoint: Type.Optional(Type.Boolean()),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    delivery: Type.Optional(Ref(DeliverySchema)),
  },
  { $id: 'AgencyPatch', additionalProperties: false, minProperties: 1 },
)
export type AgencyPatch = Static<typeof AgencyPatchSchema>

export const AgencyListQuerySchema = Type.Object(
  {
    country: Type.Optional(CountryCode),
    kind: Type.Optional(Ref(AgencyKindSchema)),
    nationalContactPoint: Type.Optional(Type.Boolean()),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
)

export const AgencyPageSchema = Type.Object(
  { items: Type.Array(Ref(AgencySchema), { maxItems: MAX_PAGE_ITEMS }), next: NextCursor },
  { $id: 'AgencyPage' },
)

export const KeyParamsSchema = Type.Object({ id: Uuid, kid: KeyId })

export const AGENCY_SCHEMAS = [
  AgencyKindSchema,
  PublicJwkSchema,
  RegisteredKeySchema,
  AgencyJwksSchema,
  DeliverySchema,
  AgencyCreateSchema,
  AgencySchema,
  AgencyPatchSchema,
  AgencyPageSchema,
]
