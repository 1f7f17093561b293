import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { pingRedis } from '../../lib/redis.js'
import { pingDatabase } from './health.repository.js'
import { LiveSchema, ReadySchema } from './health.schemas.js'

const probe = { rateLimit: false, alwaysAnswer: true } as const

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health/live',
    {
      config: probe,
      schema: {
        operationId: 'getLiveness',
        tags: ['infrastructure'],
        summary: 'Liveness: the process answers (even when overloaded or without its database)',
        security: [],
        response: { 200: LiveSchema },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/health/ready',
    {
      config: probe,
      schema: {
        operationId: 'getReadiness',
        tags: ['infrastructure'],
        summary: 'Readiness for a load balancer: 200 while this process can accept and store work',
        description:
          'Ready means Postgres answers and the process is neither overloaded nor closing. Redis being away ' +
          'is reported (status degraded) but keeps the process ready: accepted work waits in the outbox table.',
        security: [],
        response: { 200: ReadySchema, 503: ReadySchema },
      },
    },
    async (_request, reply) => {
      const [postgres, redis] = await Promise.all([pingDatabase(app.db), pingRedis(app.redis)])
      const refusing = app.refusingWork()
      const ready = postgres && refusing === undefined
      reply.code(ready ? 200 : 503)
      const state = (up: boolean) => (up ? ('ok' as const) : ('unavailable' as const))
      return {
        status: !ready ? ('unavailable' as const) : redis ? ('ok' as const) : ('degraded' as const),
        checks: { postgres: state(postgres), redis: state(redis), process: refusing ?? ('ok' as const) },
      }
    },
  )
}
