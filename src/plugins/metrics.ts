import fp from 'fastify-plugin'
import { Gauge, Histogram, Registry } from 'prom-client'
import { QUEUE_NAMES } from '../jobs/queues.js'
import type { MetricsScrape } from '../lib/metrics-listener.js'
import { scrapeWithProcessMetrics } from '../lib/process-metrics.js'
import { pingRedis } from '../lib/redis.js'
import { pingDatabase } from '../modules/health/health.repository.js'
import { registerHubStateGauges } from '../modules/metrics/metrics.gauges.js'
import { countReferralSubmissions } from './metrics-referrals.js'

const JOB_STATES = ['waiting', 'active', 'delayed', 'failed'] as const

declare module 'fastify' {
  interface FastifyInstance {
    /** This process's metrics in the Prometheus text format, for the metrics listener (src/server.ts). */
    metrics(): Promise<MetricsScrape>
  }
}

/**
 * Prometheus metrics: the process's own (lib/process-metrics.ts), HTTP latency by route, queue depths
 * by state, referral submissions by outcome (metrics-referrals.ts) and the hub's backlogs read from
 * Postgres at scrape time (modules/metrics), in a registry of this app's own. They are not served on
 * the public port (they name routes and counts): src/server.ts serves `app.metrics()` on a listener
 * of its own (lib/metrics-listener.ts).
 */
export default fp(
  async function metrics(app) {
    const registry = new Registry()
    const latency = new Histogram({
      name: 'trm_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    })
    new Gauge({
      name: 'trm_queue_jobs',
      help: 'BullMQ jobs by queue and state (absent while Redis is unreachable)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset()
        await Promise.all(
          QUEUE_NAMES.map(async (name) => {
            const counts = await app.queues[name].getJobCounts(...JOB_STATES).catch(() => undefined)
            for (const state of JOB_STATES) {
              if (counts) this.set({ queue: name, state }, counts[state] ?? 0)
            }
          }),
        )
      },
    })

    new Gauge({
      name: 'trm_dependency_up',
      help: 'Whether this process reaches a dependency (1) or not (0): postgres, redis',
      labelNames: ['dependency'],
      registers: [registry],
      async collect() {
        const [postgres, redis] = await Promise.all([pingDatabase(app.db), pingRedis(app.redis)])
        this.set({ dependency: 'postgres' }, postgres ? 1 : 0)
        this.set({ dependency: 'redis' }, redis ? 1 : 0)
      },
    })

    new Gauge({
      name: 'trm_inbox_long_polls_waiting',
      help: 'Long-polls of GET /v1/inbox waiting in this process',
      registers: [registry],
      collect() {
        this.set(app.inboxWakeups.waiting)
      },
    })
    new Gauge({
      name: 'trm_inbox_listener_up',
      help: 'Whether this process hears inbox wake-ups (LISTEN connection in place): 1, or 0 while it reconnects',
      registers: [registry],
      collect() {
        this.set(app.inboxWakeups.listening ? 1 : 0)
      },
    })

    registerHubStateGauges(registry, {
      db: app.db,
      queues: QUEUE_NAMES,
      onError: (err) => app.log.warn({ err }, 'metrics: the backlog gauges could not be read'),
    })
    countReferralSubmissions(app, registry)

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      latency.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      )
    })

    app.decorate('metrics', () => scrapeWithProcessMetrics(registry))
  },
  { name: 'trm-metrics', dependencies: ['trm-redis', 'trm-db'] },
)
