import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { pingRedis } from '../../lib/redis.js'
import { pingDatabase } from './health.repository.js'
import { LiveSchema, ReadySchema } from './health.schemas.js'

const noRateLimit = { rateLimit: false } as const

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health/live',
    {
      config: noRateLimit,
      schema: {
        operationId: 'getLiveness',
        tags: ['infrastructure'],
        summary: 'Liveness',
        security: [],
        response: { 200: LiveSchema },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/health/ready',
    {
      config: noRateLimit,
      schema: {
        operationId: 'getReadiness',
        tags: ['infrastructure'],
        summary: 'Readiness: Postgres and Redis answer',
        security: [],
        response: { 200: ReadySchema, 503: ReadySchema },
      },
    },
    async (_request, reply) => {
      const [postgres, redis] = await Promise.all([pingDatabase(app.db), pingRedis(app.redis)])
      const state = (up: boolean) => (up ? ('ok' as const) : ('unavailable' as const))
      reply.code(postgres && redis ? 200 : 503)
      return { status: state(postgres && redis), checks: { postgres: state(postgres), redis: state(redis) } }
    },
  )
}
