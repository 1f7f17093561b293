import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { HubError } from '../lib/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Why this process should not take work now, if it should not: closing, or overloaded. */
    refusingWork(): 'closing' | 'overloaded' | undefined
  }
  interface FastifyContextConfig {
    /** Answered even while the process sheds load or closes (liveness). */
    alwaysAnswer?: boolean
  }
}

/**
 * Turns work away with 503 and Retry-After, before authentication or parsing cost anything, when this
 * process should not take it: it is closing (a load balancer still sending here gets a problem
 * document and `Connection: close`, not Fastify's bare 503), its event loop lags, or its heap is
 * nearly full (@fastify/under-pressure samples both every second). A route with `alwaysAnswer` is
 * exempt: liveness must not fail because the process is busy.
 */
export default fp<{ config: Config }>(
  async function loadShedding(app, { config }) {
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    // Answers sent while closing end their connection, so no idle keep-alive connection holds the
    // server open (Node's server.close waits for every connection).
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
    app.decorate('refusingWork', () => {
      if (closing) return 'closing'
      return app.isUnderPressure() ? 'overloaded' : undefined
    })
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!closing || request.routeOptions.config.alwaysAnswer) return
      reply.header('connection', 'close')
      throw new HubError(
        'TRM_UNAVAILABLE',
        'This hub process is shutting down; retry after the time in Retry-After.',
        {
          headers: { 'retry-after': '1' },
        },
      )
    })

    const { maxEventLoopDelayMs, maxHeapUsedBytes } = config.overload
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      maxHeapUsedBytes: maxHeapUsedBytes ?? Math.floor(getHeapStatistics().heap_size_limit * 0.9),
      // A rejected promise goes to the error handler as a problem document; undefined lets the request on.
      pressureHandler: (request, _reply, type) => {
        if (request.routeOptions.config.alwaysAnswer) return undefined
        request.log.warn({ pressure: type }, 'shedding load')
        return Promise.reject(
          new HubError('TRM_OVERLOADED', 'The hub is overloaded; retry after the time in Retry-After.', {
            headers: { 'retry-after': '2' },
          }),
        )
      },
    })
  },
  { name: 'trm-load-shedding' },
)
