import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { SCOPE_DESCRIPTIONS } from '../modules/auth/auth.core.js'

/** The OpenAPI 3.1 document is generated from the route schemas; /docs serves its reference page locally. */
export default fp(
  async function openapi(app) {
    await app.register(swagger, {
      // Shared schemas keep their $id as the component name, so generated clients get real type names.
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => String(json['$id'] ?? `def-${i}`),
      },
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'TRM Hub API',
          version: '1.0.0',
          description:
            'Signed cross-border referrals of presumed victims of trafficking between European agencies. ' +
            'Errors are RFC 9457 problem documents (application/problem+json).',
          license: { name: 'EUPL-1.2', identifier: 'EUPL-1.2' },
        },
        servers: [{ url: '/' }],
        tags: [
          { name: 'auth', description: 'OAuth2 client credentials with private_key_jwt' },
          { name: 'directory', description: 'Agencies and their public keys' },
          { name: 'referrals', description: 'Signed referrals and acknowledgements' },
          { name: 'inbox', description: 'Messages for the calling agency' },
          { name: 'audit', description: 'The tamper-evident audit log' },
          { name: 'stats', description: 'Aggregate statistics with small-cell suppression' },
          { name: 'infrastructure', description: 'Health, metrics and documentation' },
        ],
        components: {
          securitySchemes: {
            oauth2: {
              type: 'oauth2',
              description: 'Client credentials with a private_key_jwt client assertion (RFC 7523).',
              flows: {
                clientCredentials: {
                  tokenUrl: '/v1/oauth/token',
                  scopes: SCOPE_DESCRIPTIONS,
                },
              },
            },
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          },
        },
      },
    })
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiConfig: { url: '/openapi.json', deepLinking: false },
    })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'trm-openapi' },
)
