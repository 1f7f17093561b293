import { ERRORS } from '../../lib/errors.js'

/**
 * How a `POST /v1/referrals` ended: `created` (201), `replayed` (200, an identical replay answered with
 * the first receipt), `refused` (4xx) or `failed` (5xx), with the problem's code for the last two. The
 * code is a label only when it is in the catalog, so a body cannot add label values of its own.
 */
export function referralSubmissionOutcome(
  status: number,
  problemCode: string | undefined,
): { outcome: 'created' | 'replayed' } | { outcome: 'refused' | 'failed'; code: string } {
  if (status === 201) return { outcome: 'created' }
  if (status === 200) return { outcome: 'replayed' }
  const code = problemCode !== undefined && Object.hasOwn(ERRORS, problemCode) ? problemCode : 'none'
  return { outcome: status >= 500 ? 'failed' : 'refused', code }
}

export const WEBHOOK_OUTCOMES = ['delivered', 'retry', 'failed', 'cancelled', 'error', 'skipped'] as const
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number]

/**
 * The outcome of one webhook job, from what the job returned (src/jobs/webhooks.ts) or the error it
 * failed with: `delivered` (2xx), `retry` (the receiver did not take it; another attempt follows),
 * `failed` (that was the last attempt: the delivery is `failed`, the dead letter), `cancelled` (the
 * agency takes no webhooks any more), `error` (the hub's own side failed; the job runs again) and
 * `skipped` (nothing to send: delivered already, handed to a newer retry, or gone).
 */
export function webhookJobOutcome(
  settled: { returned: unknown } | { error: { name: string }; lastAttempt: boolean },
): WebhookOutcome {
  if ('returned' in settled) {
    if (settled.returned === 'delivered' || settled.returned === 'cancelled') return settled.returned
    return 'skipped'
  }
  // webhooks.ts throws DeliveryFailed after recording the failed attempt, final or not.
  if (settled.error.name === 'DeliveryFailed') return settled.lastAttempt ? 'failed' : 'retry'
  return 'error'
}
