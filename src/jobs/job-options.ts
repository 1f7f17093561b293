import type { BackoffStrategy, JobsOptions } from 'bullmq'
import type { Config } from '../config.js'
import type { QueueName } from './queues.js'

/** The custom backoff type of webhook jobs; the worker's `settings.backoffStrategy` computes it. */
export const WEBHOOK_BACKOFF = 'webhook'
export const WEBHOOK_BACKOFF_CAP_MS = 2 * 3600 * 1000
export const WEBHOOK_JITTER = 0.2

/** Nominal wait before retry `retry` (1 = after the first failed attempt): doubling from the base, capped. */
export function nominalWebhookDelay(retry: number, baseMs: number): number {
  return Math.min(WEBHOOK_BACKOFF_CAP_MS, baseMs * 2 ** (retry - 1))
}

/** Every nominal wait of a job with `maxAttempts` attempts (one fewer wait than attempts). */
export function nominalWebhookSchedule(maxAttempts: number, baseMs: number): number[] {
  return Array.from({ length: Math.max(0, maxAttempts - 1) }, (_, i) => nominalWebhookDelay(i + 1, baseMs))
}

export interface BackoffClock {
  random?: () => number
  now?: () => number
}

/**
 * Exponential backoff with ±20% jitter around the capped nominal wait. Jitter spreads retries after
 * an outage, but summed over 19 waits it could bring the last attempt in before the nominal end of the
 * schedule (24.1 h with the defaults); so the wait before the final attempt is stretched, when needed,
 * to end no earlier than the job's creation plus the whole nominal schedule. A receiver that is away
 * for a day still gets its messages.
 */
export function webhookBackoffStrategy(baseMs: number, clock: BackoffClock = {}): BackoffStrategy {
  const random = clock.random ?? Math.random
  const now = clock.now ?? Date.now
  return (attemptsMade, type, _err, job) => {
    if (type !== WEBHOOK_BACKOFF) throw new Error(`unknown backoff type ${String(type)}`)
    const factor = 1 - WEBHOOK_JITTER + 2 * WEBHOOK_JITTER * random()
    const delay = Math.round(nominalWebhookDelay(attemptsMade, baseMs) * factor)
    const attempts = job?.opts.attempts
    if (!job || attempts === undefined || attemptsMade !== attempts - 1) return delay
    const end = job.timestamp + nominalWebhookSchedule(attempts, baseMs).reduce((a, b) => a + b, 0)
    return Math.max(delay, end - now())
  }
}

const KEEP = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
} satisfies JobsOptions

/**
 * BullMQ options of a job by queue. Webhook deliveries retry for about a day (then dead-letter, the
 * inbox keeping the message); deadline and maintenance jobs only ride out a short database hiccup.
 */
export function jobOptionsFor(queue: QueueName, config: Pick<Config, 'webhooks'>): JobsOptions {
  switch (queue) {
    case 'webhooks':
      return { ...KEEP, attempts: config.webhooks.maxAttempts, backoff: { type: WEBHOOK_BACKOFF } }
    case 'deadlines':
    case 'maintenance':
      return { ...KEEP, attempts: 5, backoff: { type: 'exponential', delay: 1_000, jitter: 0.2 } }
  }
}
