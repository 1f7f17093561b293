import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { Config } from '../config.js'
import { HubError } from '../lib/errors.js'

/** Secure headers and a rate limit whose counters live in Redis, so every API process shares them. */
export default fp<{ config: Config }>(
  async function security(app, { config }) {
    // Built once: @fastify/helmet builds the middleware again for every request (about 2 % of the
    // hub's CPU per referral in bench/referrals.ts).
    const secureHeaders = helmet({
      // The reference page at /docs uses inline styles; everything else is JSON.
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          scriptSrc: ["'self'"],
        },
      },
    })
    app.addHook('onRequest', (request, reply, done) => {
      secureHeaders(request.raw, reply.raw, (error) => done(error as Error | undefined))
    })
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimit.max,
      timeWindow: config.rateLimit.windowSeconds * 1000,
      redis: app.redis,
      nameSpace: `${config.queuePrefix}:rate:`,
      // Redis being away must not turn away referrals: the limit is skipped, not enforced by failing.
      skipOnError: true,
      // A client that already hung up has no address any more; it must not turn into a 500.
      keyGenerator: (request) => request.ip ?? request.socket?.remoteAddress ?? 'unknown',
      errorResponseBuilder: (_request, context) =>
        new HubError(
          'TRM_RATE_LIMITED',
          `Rate limit of ${context.max} requests exceeded; retry in ${context.after}.`,
          {
            headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
          },
        ),
    })
  },
  { name: 'trm-security', dependencies: ['trm-redis'] },
)
