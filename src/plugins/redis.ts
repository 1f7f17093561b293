import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { Config } from '../config.js'
import { closeQueues, createQueues, type Queues } from '../jobs/queues.js'
import { createProducerRedis } from '../lib/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
    /** Read-only use in the API (depths for metrics); work reaches BullMQ through the outbox. */
    queues: Queues
  }
}

export default fp<{ config: Config }>(
  async function redis(app, { config }) {
    // Auto-pipelining: the commands issued in one tick (a request's rate-limit budgets, those of
    // requests arriving together) go out in one write and come back in one read.
    const redis = createProducerRedis(config.redisUrl, { lazyConnect: true, enableAutoPipelining: true })
    redis.connect().catch(() => {}) // start-up does not wait for Redis; readiness says when it is away
    app.decorate('redis', redis)
    app.decorate('queues', createQueues(redis, config.queuePrefix))
    app.addHook('onClose', async () => {
      await closeQueues(app.queues)
      redis.disconnect()
    })
  },
  { name: 'trm-redis' },
)
