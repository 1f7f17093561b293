import { type Static, Type } from 'typebox'
import { CountryCode, Cursor, DateTime, Limit, Uuid } from '../../lib/schemas.js'

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

export const AgencyKindSchema = Type.Union(
  AGENCY_KINDS.map((k) => Type.Literal(k)),
  { $id: 'AgencyKind' },
)

/**
 * A public JWK as registered. Further members are accepted on input so that private members can be
 * named in the refusal; only kty, crv, x, y, kid, use and alg are stored and shown.
 */
export const PublicJwkSchema = Type.Object(
  {
    kty: Type.Union([Type.Literal('EC'), Type.Literal('OKP')]),
    crv: Type.Union([Type.Literal('P-256'), Type.Literal('Ed25519'), Type.Literal('X25519')]),
    x: Type.String({ maxLength: 100 }),
    y: Type.Optional(Type.String({ maxLength: 100 })),
    kid: Type.String({ minLength: 1, maxLength: 200 }),
    use: Type.Union([Type.Literal('sig'), Type.Literal('enc')]),
    alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('ECDH-ES+A256KW')]),
  },
  { $id: 'PublicJwk', additionalProperties: true },
)
export type PublicJwk = Static<typeof PublicJwkSchema>

export const RegisteredKeySchema = Type.Object(
  {
    kty: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    y: Type.Optional(Type.String()),
    kid: Type.String(),
    use: Type.String(),
    alg: Type.String(),
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
    name: Type.String({ minLength: 1, maxLength: 200 }),
    country: CountryCode,
    kind: Type.Ref('AgencyKind'),
    nationalContactPoint: Type.Optional(Type.Boolean({ default: false })),
    delivery: Type.Optional(Type.Ref('Delivery')),
    jwks: Type.Object(
      { keys: Type.Array(Type.Ref('PublicJwk'), { minItems: 1, maxItems: 20 }) },
      { additionalProperties: false },
    ),
  },
  { $id: 'AgencyCreate', additionalProperties: false },
)
export type AgencyCreate = {
  name: string
  country: string
  kind: AgencyKind
  nationalContactPoint?: boolean
  delivery?: Delivery
  jwks: { keys: PublicJwk[] }
}

export const AgencySchema = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    country: Type.String(),
    kind: Type.Ref('AgencyKind'),
    nationalContactPoint: Type.Boolean(),
    status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
    delivery: Type.Ref('Delivery'),
    jwks: Type.Object({ keys: Type.Array(Type.Ref('RegisteredKey')) }),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'Agency', additionalProperties: false },
)
export type Agency = {
  id: string
  name: string
  country: string
  kind: AgencyKind
  nationalContactPoint: boolean
  status: 'active' | 'suspended'
  delivery: Delivery
  jwks: { keys: RegisteredKey[] }
  createdAt: string
  updatedAt: string
}

export const AgencyPatchSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    kind: Type.Optional(Type.Ref('AgencyKind')),
    nationalContactPoint: Type.Optional(Type.Boolean()),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    delivery: Type.Optional(Type.Ref('Delivery')),
  },
  { $id: 'AgencyPatch', additionalProperties: false, minProperties: 1 },
)
export type AgencyPatch = Partial<
  Pick<Agency, 'name' | 'kind' | 'nationalContactPoint' | 'status' | 'delivery'>
>

export const AgencyListQuerySchema = Type.Object(
  {
    country: Type.Optional(CountryCode),
    kind: Type.Optional(Type.Ref('AgencyKind')),
    nationalContactPoint: Type.Optional(Type.Boolean()),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Limit),
  },
  { additionalProperties: false },
)

export const AgencyPageSchema = Type.Object(
  { items: Type.Array(Type.Ref('Agency')), next: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'AgencyPage' },
)

export const KeyParamsSchema = Type.Object({ id: Uuid, kid: Type.String({ minLength: 1, maxLength: 200 }) })

export const AGENCY_SCHEMAS = [
  AgencyKindSchema,
  PublicJwkSchema,
  RegisteredKeySchema,
  DeliverySchema,
  AgencyCreateSchema,
  AgencySchema,
  AgencyPatchSchema,
  AgencyPageSchema,
]
