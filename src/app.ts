import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import formbody from '@fastify/formbody'
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import { type HubKeys, loadHubKeys } from './lib/hub-keys.js'
import { redact } from './lib/logging.js'
import { ProblemSchema } from './lib/schemas.js'
import { SensitiveDetailsSchema } from './lib/sensitive-details.js'
import { typeboxValidatorCompiler } from './lib/validator.js'
import { acknowledgementsRoutes } from './modules/acknowledgements/acknowledgements.routes.js'
import { ACKNOWLEDGEMENT_SCHEMAS } from './modules/acknowledgements/acknowledgements.schemas.js'
import { agenciesRoutes } from './modules/agencies/agencies.routes.js'
import { AGENCY_SCHEMAS } from './modules/agencies/agencies.schemas.js'
import { auditRoutes } from './modules/audit/audit.routes.js'
import { AUDIT_SCHEMAS } from './modules/audit/audit.schemas.js'
import { authRoutes } from './modules/auth/auth.routes.js'
import { AUTH_SCHEMAS } from './modules/auth/auth.schemas.js'
import { deliveriesRoutes } from './modules/deliveries/deliveries.routes.js'
import { DELIVERY_SCHEMAS } from './modules/deliveries/deliveries.schemas.js'
import { evidenceRoutes } from './modules/evidence/evidence.routes.js'
import { EVIDENCE_SCHEMAS } from './modules/evidence/evidence.schemas.js'
import { healthRoutes } from './modules/health/health.routes.js'
import { inboxRoutes } from './modules/inbox/inbox.routes.js'
import { INBOX_SCHEMAS } from './modules/inbox/inbox.schemas.js'
import { referralsRoutes } from './modules/referrals/referrals.routes.js'
import { REFERRAL_SCHEMAS } from './modules/referrals/referrals.schemas.js'
import {
  ErasureRequestSchema,
  ErasureResultSchema,
  erasureRoutes,
} from './modules/retention/erasure.routes.js'
import { statsRoutes } from './modules/stats/stats.routes.js'
import { STATS_SCHEMAS } from './modules/stats/stats.schemas.js'
import authPlugin from './plugins/auth.js'
import consolePlugin from './plugins/console.js'
import dbPlugin from './plugins/db.js'
import errorsPlugin, { answerFrameworkError, clientErrorHandler } from './plugins/errors.js'
import inboxWakeupsPlugin from './plugins/inbox-wakeups.js'
import jsonBodyPlugin from './plugins/json-body.js'
import loadSheddingPlugin from './plugins/load-shedding.js'
import metricsPlugin from './plugins/metrics.js'
import openapiPlugin from './plugins/openapi.js'
import redisPlugin from './plugins/redis.js'
import securityPlugin from './plugins/security.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    hubKeys: HubKeys
  }
}

export interface BuildOptions {
  /** Where logs go (tests capture them); defaults to stdout. */
  logStream?: NodeJS.WritableStream
  hubKeys?: HubKeys
}

function loggerOptions(config: Config, options: BuildOptions): FastifyServerOptions['logger'] {
  const base = { level: config.logLevel, redact }
  if (options.logStream) return { ...base, stream: options.logStream }
  if (config.logPretty) return { ...base, transport: { target: 'pino-pretty', options: { colorize: true } } }
  return base
}

/**
 * Node's requestTimeout bounds the time to receive a whole request, headers and body, not the time
 * to answer it (a 30 s long-poll is not cut): it is the body-read deadline, answered 408 and closed.
 * Node checks it every connectionsCheckingInterval (30 s by default): a fifth of it here, so the
 * deadline holds within 1 s.
 */
function serverTimeouts({ timeouts }: Config): FastifyHttpOptions<Server> {
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.connectionMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(timeouts.requestMs / 5)),
    },
  }
}

/** Schemas with an $id: registered once, referenced by name from routes and the OpenAPI document. */
const SHARED_SCHEMAS = [
  ProblemSchema,
  ...AGENCY_SCHEMAS,
  ...AUTH_SCHEMAS,
  ...REFERRAL_SCHEMAS,
  ...ACKNOWLEDGEMENT_SCHEMAS,
  ...INBOX_SCHEMAS,
  ErasureRequestSchema,
  ErasureResultSchema,
  ...STATS_SCHEMAS,
  ...DELIVERY_SCHEMAS,
  ...AUDIT_SCHEMAS,
  ...EVIDENCE_SCHEMAS,
  SensitiveDetailsSchema,
]

/** Builds the whole HTTP application without listening. */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config, options),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    genReqId: () => randomUUID(),
    // While closing, requests get the hub's own 503 problem (plugins/load-shedding.ts), not Fastify's.
    return503OnClosing: false,
    // A kid of 200 characters percent-encoded takes up to 2,400; longer path segments are 414 problems.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2500 },
    frameworkErrors: answerFrameworkError,
    ...serverTimeouts(config),
    clientErrorHandler,
  }).setValidatorCompiler(typeboxValidatorCompiler(SHARED_SCHEMAS))

  app.decorate('config', config)
  app.decorate('hubKeys', options.hubKeys ?? (await loadHubKeys(config.hubKeys)))
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  await app.register(errorsPlugin)
  await app.register(dbPlugin, { config })
  await app.register(redisPlugin, { config })
  await app.register(metricsPlugin)
  await app.register(securityPlugin, { config })
  await app.register(loadSheddingPlugin, { config })
  // JSON everywhere, form-encoded only for the token endpoint (RFC 6749); anything else is 415.
  app.removeContentTypeParser('text/plain')
  await app.register(jsonBodyPlugin)
  await app.register(formbody)
  await app.register(openapiPlugin)

  await app.register(authPlugin)
  await app.register(inboxWakeupsPlugin)

  await app.register(healthRoutes)
  await app.register(authRoutes)
  await app.register(agenciesRoutes)
  await app.register(referralsRoutes)
  await app.register(acknowledgementsRoutes)
  await app.register(inboxRoutes)
  await app.register(erasureRoutes)
  await app.register(evidenceRoutes)
  await app.register(statsRoutes)
  await app.register(deliveriesRoutes)
  await app.register(auditRoutes)
  await app.register(consolePlugin)
  return app
}
