import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HubError } from '../../lib/errors.js'
import { toProblem } from '../../lib/problem.js'
import { Ref } from '../../lib/schemas.js'
import { ALL_SCOPES } from '../agencies/scopes.core.js'
import {
  AuthorizationServerMetadataSchema,
  JwksSchema,
  OAuthErrorSchema,
  TokenRequestSchema,
  TokenResponseSchema,
} from './auth.schemas.js'
import { issueToken, OAuthError } from './auth.service.js'

const DESCRIPTIONS: Record<string, string> = {
  invalid_request: 'The request is missing a parameter or is malformed.',
  invalid_client: 'Client authentication failed.',
  invalid_grant: 'The grant is not valid.',
  invalid_scope: 'The requested scope is not allowed for this agency.',
  unsupported_grant_type: 'Only client_credentials is supported.',
  temporarily_unavailable: 'The token service is temporarily unavailable; retry shortly.',
}

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/oauth/token',
    {
      preValidation: async (request) => {
        if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
          throw new HubError(
            'TRM_UNSUPPORTED_MEDIA_TYPE',
            'The token endpoint takes application/x-www-form-urlencoded.',
          )
        }
      },
      schema: {
        operationId: 'issueToken',
        tags: ['auth'],
        summary: 'Client credentials grant with a private_key_jwt client assertion (RFC 6749 §4.4, RFC 7523)',
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        body: Ref(TokenRequestSchema),
        response: {
          200: Ref(TokenResponseSchema),
          400: Ref(OAuthErrorSchema),
          401: Ref(OAuthErrorSchema),
          503: Ref(OAuthErrorSchema),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
        throw new HubError(
          'TRM_UNSUPPORTED_MEDIA_TYPE',
          'The token endpoint takes application/x-www-form-urlencoded.',
        )
      }
      const deps = {
        db: app.db,
        redis: app.redis,
        hubKeys: app.hubKeys,
        config: app.config,
        now: () => new Date(),
      }
      try {
        return await issueToken(
          deps,
          request.body,
          String(request.id),
          request.ip ?? request.socket?.remoteAddress ?? 'unknown',
        )
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error
        request.log.info(
          { oauthError: error.error, reason: error.reason, audited: error.audited },
          'token refused',
        )
        const status =
          error.error === 'invalid_client' ? 401 : error.error === 'temporarily_unavailable' ? 503 : 400
        const code =
          status === 401 ? 'TRM_AUTH_UNAUTHENTICATED' : status === 503 ? 'TRM_UNAVAILABLE' : 'TRM_BAD_REQUEST'
        const description = DESCRIPTIONS[error.error]!
        return reply
          .code(status)
          .type('application/json')
          .send({
            error: error.error,
            error_description: description,
            ...toProblem(code, description, String(request.id)),
          })
      }
    },
  )

  app.get(
    '/.well-known/oauth-authorization-server',
    {
      config: { rateLimit: false },
      schema: {
        operationId: 'getAuthorizationServerMetadata',
        tags: ['auth'],
        summary: 'OAuth 2.0 authorization server metadata (RFC 8414): issuer, token endpoint, algorithms',
        security: [],
        response: { 200: Ref(AuthorizationServerMetadataSchema) },
      },
    },
    async () => {
      const issuer = app.config.publicUrl
      return {
        issuer,
        token_endpoint: `${issuer}/v1/oauth/token`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
        scopes_supported: [...ALL_SCOPES],
      }
    },
  )

  app.get(
    '/.well-known/jwks.json',
    {
      config: { rateLimit: false },
      schema: {
        operationId: 'getHubJwks',
        tags: ['auth'],
        summary: "The hub's public signing keys (receipts, access tokens, checkpoints, webhooks)",
        security: [],
        response: { 200: Ref(JwksSchema) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return app.hubKeys.publicJwks
    },
  )
}
