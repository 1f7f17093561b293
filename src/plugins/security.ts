import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { Config } from '../config.js'
import { HubError } from '../lib/errors.js'

const TOKEN_ENDPOINT = '/v1/oauth/token'

/** One budget's state for this request, as the rate-limit headers report it. */
interface Count {
  max: number
  remaining: number
  resetSeconds: number
  exceeded: boolean
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/**
 * An address as the budgets know it: IPv6 by its /64 (one customer's whole prefix, as the plugin
 * does by default). A client that already hung up has no address any more; it must not be a 500.
 */
const clientAddress = (request: FastifyRequest) => {
  const ip = request.ip ?? request.socket?.remoteAddress
  return ip ? normalizeIP(ip, 64) : 'unknown'
}

async function count(limiter: Limiter, request: FastifyRequest, increment = true): Promise<Count> {
  const result = await limiter(request, { increment })
  if (result.isAllowed) return { max: 0, remaining: 0, resetSeconds: 0, exceeded: false }
  return {
    max: result.max,
    remaining: result.remaining,
    resetSeconds: result.ttlInSeconds,
    // Counted here: over once past max. Only read (failed authentications, counted as they are
    // answered): over once max have been counted, so no further token is verified.
    exceeded: increment ? result.isExceeded : result.remaining === 0 && result.ttl > 0,
  }
}

function rateLimitHeaders(reply: FastifyReply, budget: Count, remaining = budget.remaining) {
  reply.header('x-ratelimit-limit', budget.max)
  reply.header('x-ratelimit-remaining', remaining)
  reply.header('x-ratelimit-reset', budget.resetSeconds)
}

/**
 * Secure headers, and rate limits whose counters live in Redis so every API process shares them.
 *
 * The budgets are counted by one hook that runs before any route's own hooks, authentication
 * included: a request with no token or a bad one costs its address as much as any other, and an
 * address over a budget gets 429 before a signature is checked. Per address and window:
 * every request (`RATE_LIMIT_MAX`), failed authentications, i.e. 401 answers
 * (`RATE_LIMIT_AUTH_FAILURES_MAX`: past it, every request of the address gets 429 until the window
 * ends), and requests to the token endpoint (`RATE_LIMIT_TOKEN_MAX`). Redis being away must not turn
 * away referrals: the budgets are then skipped, not enforced by failing.
 */
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

    const { max, windowSeconds, authFailuresMax, tokenMax } = config.rateLimit
    const timeWindow = windowSeconds * 1000
    // global: false: the plugin adds no hook of its own to each route, where it would run after the
    // route's authentication; the hook below counts instead.
    await app.register(rateLimit, {
      global: false,
      max,
      timeWindow,
      redis: app.redis,
      nameSpace: `${config.queuePrefix}:rate:`,
      skipOnError: true,
      keyGenerator: clientAddress,
    })
    const budget = (name: string, budgetMax: number) =>
      app.createRateLimit({
        max: budgetMax,
        timeWindow,
        keyGenerator: (request) => `${name}:${clientAddress(request)}`,
      })
    const requests = app.createRateLimit()
    const authFailures = budget('auth-failures', authFailuresMax)
    const tokenRequests = budget('token', tokenMax)
    const exempt = (request: FastifyRequest) => request.routeOptions.config.rateLimit === false

    app.addHook('onRequest', async (request, reply) => {
      if (exempt(request)) return
      const isTokenRequest = request.method === 'POST' && request.routeOptions.url === TOKEN_ENDPOINT
      const [all, failures, token] = await Promise.all([
        count(requests, request),
        count(authFailures, request, false),
        isTokenRequest ? count(tokenRequests, request) : undefined,
      ])
      const refusal = all.exceeded
        ? { budget: all, detail: `Rate limit of ${all.max} requests per ${windowSeconds} s exceeded` }
        : failures.exceeded
          ? {
              budget: failures,
              detail: `Too many failed authentications from this address (${failures.max} per ${windowSeconds} s)`,
            }
          : token?.exceeded
            ? {
                budget: token,
                detail: `Rate limit of ${token.max} token requests per ${windowSeconds} s exceeded`,
              }
            : undefined
      if (refusal) {
        const retryAfter = Math.max(1, refusal.budget.resetSeconds)
        rateLimitHeaders(reply, refusal.budget, 0)
        throw new HubError('TRM_RATE_LIMITED', `${refusal.detail}; retry in ${retryAfter} s.`, {
          headers: { 'retry-after': String(retryAfter) },
        })
      }
      // The headers describe the budget of this request closest to running out.
      rateLimitHeaders(reply, token && token.remaining < all.remaining ? token : all)
    })

    // A failed authentication is counted before its 401 leaves, so the address's next request
    // already sees it. 401 is the only answer to a refused token or client assertion.
    app.addHook('onSend', async (request, reply) => {
      if (reply.statusCode !== 401 || exempt(request)) return
      await count(authFailures, request).catch((error: unknown) => {
        request.log.warn({ err: error }, 'failed authentication not counted')
      })
    })
  },
  { name: 'trm-security', dependencies: ['trm-redis'] },
)
