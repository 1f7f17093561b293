import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { addStandardResponses, type RouteFacts } from '../lib/openapi-responses.js'
import { SCOPE_DESCRIPTIONS } from '../modules/agencies/scopes.core.js'

// Tokens and signed documents follow the JWT best current practices: explicit algorithms (ES256,
// EdDSA), keys only from the directory, `typ` checked, `iss`/`aud`/`exp` checked, single-use `jti`.
const RFC8725 =
  'Access tokens and client assertions are JWTs handled as RFC8725 (JWT best current practices) asks: ' +
  'algorithms fixed per key (EdDSA for the hub, ES256 or EdDSA for agencies), typ, iss, aud and exp checked.'

/** The OpenAPI 3.1 document is generated from the route schemas; /docs serves its reference page locally. */
const SERVER = {
  url: '/',
  description: 'The hub that serves this document (production, staging or local alike)',
}

export default fp(
  async function openapi(app) {
    const facts = new Map<string, RouteFacts>()
    await app.register(swagger, {
      // Reads what the document cannot say about each route from its options; changes nothing.
      transform: ({ schema, url, route }) => {
        const operationId = (schema as { operationId?: string } | undefined)?.operationId
        const config = (route.config ?? {}) as { rateLimit?: unknown; alwaysAnswer?: boolean }
        if (operationId) {
          facts.set(operationId, {
            rateLimited: config.rateLimit !== false,
            alwaysAnswer: config.alwaysAnswer === true,
          })
        }
        return { schema, url }
      },
      transformObject: (document) => {
        if (!('openapiObject' in document)) return document.swaggerObject
        // OWASP API9:2023: whom the server is for, said explicitly (x-internal is not in the types).
        const servers = [{ ...SERVER, 'x-internal': false }]
        const described = { ...document.openapiObject, servers }
        return addStandardResponses(described, facts)
      },
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
        servers: [SERVER],
        tags: [
          { name: 'auth', description: 'OAuth2 client credentials with private_key_jwt' },
          { name: 'directory', description: 'Agencies and their public keys' },
          { name: 'referrals', description: 'Signed referrals and acknowledgements' },
          { name: 'inbox', description: 'Messages for the calling agency' },
          { name: 'audit', description: 'The tamper-evident audit log' },
          { name: 'stats', description: 'Quarterly statistics releases, no count below the threshold' },
          {
            name: 'infrastructure',
            description:
              'Health and documentation. Prometheus metrics are not part of this API: each process ' +
              'serves them on a listener of its own (METRICS_HOST:METRICS_PORT), never on this port.',
          },
        ],
        components: {
          securitySchemes: {
            oauth2: {
              type: 'oauth2',
              description: `Client credentials with a private_key_jwt client assertion (RFC 7523). ${RFC8725}`,
              flows: {
                clientCredentials: {
                  tokenUrl: '/v1/oauth/token',
                  scopes: SCOPE_DESCRIPTIONS,
                },
              },
            },
            bearer: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: `The access token from /v1/oauth/token. ${RFC8725}`,
            },
          },
        },
      },
    })
    // No staticCSP: the page answers with the hub's own Content-Security-Policy (plugins/security.ts),
    // which its local scripts and inline styles fit. No validator badge: it would load an image from
    // another host.
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      theme: { title: 'TRM Hub API reference' },
      uiConfig: { url: '/openapi.json', deepLinking: false, validatorUrl: null },
    })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'trm-openapi' },
)
