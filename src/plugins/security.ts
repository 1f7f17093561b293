import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import ipaddr from 'ipaddr.js'
import type { Config } from '../config.js'
import { HubError } from '../lib/errors.js'
import { SharedBudgets } from '../lib/shared-budgets.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the rate limit does not count this route (probes, well-known documents). */
    rateLimit?: false
  }
}

const TOKEN_ENDPOINT = '/v1/oauth/token'

/** One budget's state for this request, as the rate-limit headers report it. */
interface Count {
  max: number
  remaining: number
  resetSeconds: number
  exceeded: boolean
}

/**
 * An address as the budgets know it: IPv6 by its /64 (one customer's whole prefix), an IPv4-mapped
 * IPv6 address as its IPv4 address. A client that already hung up has no address any more; it must
 * not be a 500.
 */
export function clientAddress(request: Pick<FastifyRequest, 'ip' | 'socket'>): string {
  const ip = request.ip ?? request.socket?.remoteAddress
  if (!ip) return 'unknown'
  // Node gives IPv4 addresses as dotted quads already: nothing to normalise.
  if (!ip.includes(':')) return ip
  if (!ipaddr.isValid(ip)) return ip.toLowerCase()
  const address = ipaddr.parse(ip)
  if (address.kind() === 'ipv4') return address.toString()
  const v6 = address as ipaddr.IPv6
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString()
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${v6.toString()}/64`).toString()}/64`
}

function rateLimitHeaders(reply: FastifyReply, budget: Count, remaining = budget.remaining) {
  reply.header('x-ratelimit-limit', budget.max)
  reply.header('x-ratelimit-remaining', remaining)
  reply.header('x-ratelimit-reset', budget.resetSeconds)
}

/**
 * Secure headers, and rate limits counted in each API process and shared by all of them through
 * Redis (SharedBudgets: no request waits on Redis; another process's counts arrive within
 * `RATE_LIMIT_SYNC_MS`).
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

    const { max, windowSeconds, authFailuresMax, tokenMax, syncMs } = config.rateLimit
    const budgets = new SharedBudgets(app.redis, {
      prefix: `${config.queuePrefix}:rate:`,
      windowMs: windowSeconds * 1000,
      syncMs,
    })
    app.addHook('onClose', async () => {
      await budgets.close()
    })
    const count = (name: string, budgetMax: number, address: string, increment = true): Count => {
      const { count: n, resetMs } = budgets.take(`${name}:${address}`, increment)
      return {
        max: budgetMax,
        remaining: Math.max(0, budgetMax - n),
        resetSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
        // Counted here: over once past max. Only read (failed authentications, counted as they are
        // answered): over once max have been counted, so no further token is verified.
        exceeded: increment ? n > budgetMax : n >= budgetMax,
      }
    }
    // Redis away: nothing is counted, nothing refused for it (as if the budgets were not there).
    const skipped = (request: FastifyRequest) =>
      request.routeOptions.config.rateLimit === false || app.redis.status !== 'ready'

    app.addHook('onRequest', (request, reply, done) => {
      if (skipped(request)) return done()
      const isTokenRequest = request.method === 'POST' && request.routeOptions.url === TOKEN_ENDPOINT
      const address = clientAddress(request)
      const all = count('all', max, address)
      const failures = count('auth-failures', authFailuresMax, address, false)
      const token = isTokenRequest ? count('token', tokenMax, address) : undefined
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
        const retryAfter = refusal.budget.resetSeconds
        rateLimitHeaders(reply, refusal.budget, 0)
        return done(
          new HubError('TRM_RATE_LIMITED', `${refusal.detail}; retry in ${retryAfter} s.`, {
            headers: { 'retry-after': String(retryAfter) },
          }),
        )
      }
      // The headers describe the budget of this request closest to running out.
      rateLimitHeaders(reply, token && token.remaining < all.remaining ? token : all)
      done()
    })

    // A failed authentication is counted before its 401 leaves, so the address's next request
    // already sees it. 401 is the only answer to a refused token or client assertion.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode === 401 && !skipped(request))
        count('auth-failures', authFailuresMax, clientAddress(request))
      done(null, payload)
    })
  },
  { name: 'trm-security', dependencies: ['trm-redis'] },
)
