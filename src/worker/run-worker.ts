import { Worker, type WorkerOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { flushShortly } from '../db/after-commit.js'
import { createDb } from '../db/create-db.js'
import { startAuditSealer } from '../jobs/audit-sealer.js'
import { startDeadlineSweep } from '../jobs/deadline-sweep.js'
import { webhookBackoffStrategy } from '../jobs/job-options.js'
import { scheduleMaintenance } from '../jobs/maintenance.js'
import { startOutboxRelay } from '../jobs/outbox-relay.js'
import { PROCESSORS } from '../jobs/processors.js'
import { closeQueues, createQueues, QUEUE_NAMES } from '../jobs/queues.js'
import { SHUTDOWN } from '../jobs/worker-deps.js'
import type { HubKeys } from '../lib/hub-keys.js'
import { createProducerRedis, createWorkerRedis } from '../lib/redis.js'
import { createWorkerMetrics, type WorkerMetrics } from './worker-metrics.js'

export interface RunningWorker {
  close(): Promise<void>
  relay: Awaited<ReturnType<typeof startOutboxRelay>>
  sealer: Awaited<ReturnType<typeof startAuditSealer>>
  deadlines: Awaited<ReturnType<typeof startDeadlineSweep>>
  metrics: WorkerMetrics
}

export interface WorkerRunOptions {
  /** How long a closing worker lets running jobs finish before it cancels them back to the queue. */
  shutdownGraceMs?: number
  /** Where the worker counts what it does (src/worker.ts serves it); a fresh set when absent. */
  metrics?: WorkerMetrics
}

/**
 * Lock and stall settings. A job's lock is renewed every lockDuration/2 while it runs; it is made
 * longer than the slowest webhook (timeoutMs) so that even if renewals fail (a Redis blip) the job
 * ends before another worker may take it. A worker that died leaves its jobs locked: they are
 * found stalled after lockDuration (checked every stalledInterval) and run again (at least once).
 */
export function stallSettings(config: Pick<Config, 'webhooks'>) {
  const lockDuration = Math.max(30_000, 2 * config.webhooks.timeoutMs + 5_000)
  return {
    lockDuration,
    stalledInterval: lockDuration / 2,
    maxStalledCount: 5,
  } satisfies Partial<WorkerOptions>
}

/**
 * Starts the outbox relay, the audit sealer, the deadline sweep and one BullMQ worker per queue that
 * has a processor. Used by src/worker.ts and by tests; never by the HTTP process.
 */
export async function runWorker(
  config: Config,
  hubKeys: HubKeys,
  log: Logger,
  options: WorkerRunOptions = {},
): Promise<RunningWorker> {
  const { db, pool } = createDb(config, 'trm-hub-worker')
  const producer = createProducerRedis(config.redisUrl)
  const queues = createQueues(producer, config.queuePrefix)
  const deps = { config, db, hubKeys, log }
  const metrics = options.metrics ?? createWorkerMetrics()
  const workers: Worker[] = []
  const connections: Redis[] = []
  for (const name of QUEUE_NAMES) {
    const create = PROCESSORS[name]
    if (!create) continue
    const connection = createWorkerRedis(config.redisUrl)
    connections.push(connection)
    const worker = new Worker(name, create(deps), {
      connection,
      prefix: config.queuePrefix,
      concurrency: name === 'webhooks' ? 32 : 8,
      ...stallSettings(config),
      settings: { backoffStrategy: webhookBackoffStrategy(config.webhooks.backoffMs) },
    })
    worker.on('error', (err) => log.warn({ err, queue: name }, 'worker error'))
    worker.on('failed', (job, err) =>
      log.warn(
        { queue: name, jobId: job?.id, attempts: job?.attemptsMade, reason: err.message },
        'job failed',
      ),
    )
    metrics.observe(worker)
    workers.push(worker)
  }
  // Redis may be away at start: the daily schedule is (re)written until it has been once.
  let scheduleTimer: NodeJS.Timeout | undefined
  const schedule = () =>
    scheduleMaintenance(queues).catch((err) => {
      log.warn({ err }, 'maintenance schedule not set yet')
      scheduleTimer = setTimeout(schedule, 10_000)
    })
  void schedule()
  const relay = await startOutboxRelay({
    db,
    pool,
    queues,
    redis: producer,
    schema: config.databaseSchema,
    config,
    log,
    onRedisReset: () => scheduleMaintenance(queues),
  })
  metrics.observeRelay(relay)
  const sealer = await startAuditSealer({ db, pool, hubKeys, origin: config.auditLog.origin, log })
  const deadlines = await startDeadlineSweep({
    db,
    pool,
    config,
    hubKeys,
    log,
    onEscalated: (count) => metrics.countEscalations(count),
  })
  log.info({ queues: workers.map((w) => w.name) }, 'worker started')
  return {
    relay,
    sealer,
    deadlines,
    metrics,
    async close() {
      clearTimeout(scheduleTimer)
      await Promise.all([relay.close(), sealer.close(), deadlines.close()])
      // Worker.close stops taking jobs and waits for running ones; those still running after the grace
      // are cancelled and put back in the queue for another worker, without spending an attempt.
      const cancel = setTimeout(() => {
        for (const worker of workers) worker.cancelAllJobs(SHUTDOWN)
      }, options.shutdownGraceMs ?? 3_000)
      await Promise.allSettled(workers.map((w) => w.close()))
      clearTimeout(cancel)
      await closeQueues(queues)
      // BullMQ leaves connections it was given open (they may be shared); these are ours alone.
      for (const connection of connections) connection.disconnect()
      producer.disconnect()
      // The jobs' last wake-ups (a delivery's, its evidence's) may still be lingering.
      await flushShortly(db)
      await db.destroy()
    },
  }
}
