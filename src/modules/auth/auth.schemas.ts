import { Type } from 'typebox'

export const TokenRequestSchema = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ maxLength: 100, examples: ['client_credentials'] })),
    client_assertion_type: Type.Optional(
      Type.String({ maxLength: 200, examples: ['urn:ietf:params:oauth:client-assertion-type:jwt-bearer'] }),
    ),
    client_assertion: Type.Optional(
      Type.String({ maxLength: 8192, description: 'RFC 7523 JWT signed by the agency' }),
    ),
    scope: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { $id: 'TokenRequest' },
)

export const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer(),
    scope: Type.String(),
  },
  { $id: 'TokenResponse' },
)

/** RFC 6749 §5.2 error, carrying the RFC 9457 members as well. */
export const OAuthErrorSchema = Type.Object(
  {
    error: Type.String(),
    error_description: Type.String(),
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    code: Type.String(),
  },
  { $id: 'OAuthError' },
)

export const JwksSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object({
        kty: Type.String(),
        crv: Type.String(),
        x: Type.String(),
        kid: Type.String(),
        alg: Type.String(),
        use: Type.String(),
      }),
    ),
  },
  { $id: 'HubJwks' },
)

export const AuthorizationServerMetadataSchema = Type.Object(
  {
    issuer: Type.String(),
    token_endpoint: Type.String({ description: 'Also the audience client assertions must name' }),
    jwks_uri: Type.String(),
    grant_types_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
    token_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
    scopes_supported: Type.Array(Type.String()),
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
