import type { Job, Worker } from 'bullmq'
import { Counter, Gauge, Registry } from 'prom-client'
import type { MetricsScrape } from '../lib/metrics-listener.js'
import { scrapeWithProcessMetrics } from '../lib/process-metrics.js'
import { WEBHOOK_OUTCOMES, webhookJobOutcome } from '../modules/metrics/metrics.core.js'

export interface WorkerMetrics {
  /** Counts the jobs a BullMQ worker settles, from its `completed` and `failed` events. */
  observe(worker: Worker): void
  /** Reports, at each scrape, how many relay attempts in a row have failed (0: relaying). */
  observeRelay(relay: { readonly failing: number }): void
  /** Counts referrals the deadline sweep escalated. */
  countEscalations(count: number): void
  /** This process's metrics in the Prometheus text format, for the worker's metrics listener. */
  scrape(): Promise<MetricsScrape>
}

/**
 * The worker process's metrics: its process and runtime metrics, jobs settled by queue, webhook
 * deliveries by outcome and escalations, counted from the outside of the processors, from what each
 * job returned or failed with (src/jobs/webhooks.ts, src/jobs/deadlines.ts), and from what the
 * deadline sweep reports (src/jobs/deadline-sweep.ts).
 */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry()
  const jobs = new Counter({
    name: 'trm_jobs_total',
    help: 'BullMQ jobs this worker settled, by queue and result (completed, failed: thrown, retried or not)',
    labelNames: ['queue', 'result'],
    registers: [registry],
  })
  const webhooks = new Counter({
    name: 'trm_webhook_deliveries_total',
    help: 'Webhook jobs by outcome: delivered, retry (attempt refused, another follows), failed (last attempt: dead letter), cancelled, error (ours; runs again), skipped',
    labelNames: ['outcome'],
    registers: [registry],
  })
  for (const outcome of WEBHOOK_OUTCOMES) webhooks.inc({ outcome }, 0)
  const escalations = new Counter({
    name: 'trm_escalations_total',
    help: 'Referrals escalated: their acknowledgement deadline passed without `received`, and the parties and the NCP were told',
    registers: [registry],
  })
  const relays: { readonly failing: number }[] = []
  new Gauge({
    name: 'trm_outbox_relay_failing',
    help: 'Failed attempts in a row of the outbox relay of this process to reach BullMQ (0: relaying, or not the active relay)',
    registers: [registry],
    collect() {
      this.set(Math.max(0, ...relays.map((relay) => relay.failing)))
    },
  })

  return {
    observe(worker) {
      const queue = worker.name
      worker.on('completed', (_job: Job, returned: unknown) => {
        jobs.inc({ queue, result: 'completed' })
        if (queue === 'webhooks') webhooks.inc({ outcome: webhookJobOutcome({ returned }) })
        if (queue === 'deadlines' && returned === 'escalated') escalations.inc()
      })
      worker.on('failed', (job: Job | undefined, error: Error) => {
        jobs.inc({ queue, result: 'failed' })
        if (queue !== 'webhooks') return
        // BullMQ counts the attempt before it emits `failed`: the last one leaves attemptsMade at attempts.
        const lastAttempt = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)
        webhooks.inc({ outcome: webhookJobOutcome({ error, lastAttempt }) })
      })
    },
    observeRelay(relay) {
      relays.push(relay)
    },
    countEscalations(count) {
      escalations.inc(count)
    },
    scrape: () => scrapeWithProcessMetrics(registry),
  }
}
