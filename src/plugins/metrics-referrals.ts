import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import { referralSubmissionOutcome } from '../modules/metrics/metrics.core.js'

const isSubmission = (request: FastifyRequest) =>
  request.method === 'POST' && request.routeOptions.url === '/v1/referrals'

/** The `code` of a problem document the hub sends (plugins/errors.ts serialises it to a string). */
function problemCode(payload: unknown): string | undefined {
  if (typeof payload !== 'string') return undefined
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

/**
 * `trm_referral_submissions_total{outcome,code}`: every answer to `POST /v1/referrals`, counted from
 * the outside of the route by its status and, for a problem, its code, whatever answered it (the
 * route, authentication, the rate limit, load shedding, the error handler).
 */
export function countReferralSubmissions(app: FastifyInstance, registry: Registry): void {
  const submissions = new Counter({
    name: 'trm_referral_submissions_total',
    help: 'Answers to POST /v1/referrals: created (201), replayed (200), refused (4xx) or failed (5xx), with the problem code',
    labelNames: ['outcome', 'code'],
    registers: [registry],
  })
  submissions.inc({ outcome: 'created' }, 0)
  submissions.inc({ outcome: 'replayed' }, 0)

  const codes = new WeakMap<FastifyRequest, string>()
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 300 && isSubmission(request)) {
      const code = problemCode(payload)
      if (code) codes.set(request, code)
    }
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    if (isSubmission(request))
      submissions.inc(referralSubmissionOutcome(reply.statusCode, codes.get(request)))
  })
}
