import { Type } from 'typebox'
import { MAX_HUB_KEYS } from '../../lib/hub-keys.js'
import { BASE64URL, HubStatement, Int32, KeyId, Matching, ProblemSchema, Text } from '../../lib/schemas.js'
import { ALL_SCOPES } from '../agencies/scopes.core.js'

/** Space-separated scope names (RFC 6749 §3.3). */
const ScopeList = Matching('^[a-z:]+(?: [a-z:]+)*$', 500)
const OAUTH_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'invalid_scope',
  'unsupported_grant_type',
  'temporarily_unavailable',
] as const

export const TokenRequestSchema = Type.Object(
  {
    grant_type: Type.Optional(Text(100, { examples: ['client_credentials'] })),
    client_assertion_type: Type.Optional(
      Text(200, { examples: ['urn:ietf:params:oauth:client-assertion-type:jwt-bearer'] }),
    ),
    client_assertion: Type.Optional(Text(8192, { description: 'RFC 7523 JWT signed by the agency' })),
    scope: Type.Optional(Text(500)),
  },
  { $id: 'TokenRequest' },
)

export const TokenResponseSchema = Type.Object(
  {
    access_token: HubStatement('Hub-signed JWT (EdDSA), sent as `Authorization: Bearer …`'),
    token_type: Type.Literal('Bearer'),
    expires_in: Int32(1, 86_400, { description: 'Seconds the token is valid (ACCESS_TOKEN_TTL_SECONDS)' }),
    scope: ScopeList,
  },
  { $id: 'TokenResponse' },
)

/** RFC 6749 §5.2 error, carrying the RFC 9457 members as well. */
export const OAuthErrorSchema = Type.Object(
  {
    error: Type.Enum(OAUTH_ERRORS),
    error_description: Text(200),
    type: ProblemSchema.properties.type,
    title: ProblemSchema.properties.title,
    status: ProblemSchema.properties.status,
    detail: ProblemSchema.properties.detail,
    instance: ProblemSchema.properties.instance,
    code: ProblemSchema.properties.code,
  },
  { $id: 'OAuthError' },
)

export const JwksSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object({
        kty: Type.Literal('OKP'),
        crv: Type.Literal('Ed25519'),
        x: Matching(BASE64URL, 100),
        kid: KeyId,
        alg: Type.Literal('EdDSA'),
        use: Type.Literal('sig'),
      }),
      { minItems: 1, maxItems: MAX_HUB_KEYS },
    ),
  },
  { $id: 'HubJwks' },
)

const Url = Type.String({ format: 'uri', maxLength: 2000 })
const Listed = <T extends readonly string[]>(values: T) =>
  Type.Array(Type.Enum(values), { maxItems: values.length })

export const AuthorizationServerMetadataSchema = Type.Object(
  {
    issuer: Url,
    token_endpoint: Type.String({
      format: 'uri',
      maxLength: 2000,
      description: 'Also the audience client assertions must name',
    }),
    jwks_uri: Url,
    grant_types_supported: Listed(['client_credentials']),
    token_endpoint_auth_methods_supported: Listed(['private_key_jwt']),
    token_endpoint_auth_signing_alg_values_supported: Listed(['ES256', 'EdDSA']),
    scopes_supported: Listed(ALL_SCOPES),
  },
  { $id: 'AuthorizationServerMetadata' },
)

export const AUTH_SCHEMAS = [
  TokenRequestSchema,
  TokenResponseSchema,
  OAuthErrorSchema,
  JwksSchema,
  AuthorizationServerMetadataSchema,
]
