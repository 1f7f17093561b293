import { Worker } from 'bullmq'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { createDb } from '../db/create-db.js'
import { startAuditSealer } from '../jobs/audit-sealer.js'
import { startOutboxRelay } from '../jobs/outbox-relay.js'
import { PROCESSORS } from '../jobs/processors.js'
import { closeQueues, createQueues, QUEUE_NAMES } from '../jobs/queues.js'
import type { HubKeys } from '../lib/hub-keys.js'
import { createProducerRedis, createWorkerRedis } from '../lib/redis.js'

export interface RunningWorker {
  close(): Promise<void>
  relay: Awaited<ReturnType<typeof startOutboxRelay>>
  sealer: Awaited<ReturnType<typeof startAuditSealer>>
}

/**
 * Starts the outbox relay, the audit sealer and one BullMQ worker per queue that has a processor. Used by
 * src/worker.ts and by tests; never by the HTTP process.
 */
export async function runWorker(config: Config, hubKeys: HubKeys, log: Logger): Promise<RunningWorker> {
  const { db, pool } = createDb(config, 'trm-hub-worker')
  const producer = createProducerRedis(config.redisUrl)
  const queues = createQueues(producer, config.queuePrefix)
  const deps = { config, db, hubKeys, log }
  const workers: Worker[] = []
  for (const name of QUEUE_NAMES) {
    const create = PROCESSORS[name]
    if (!create) continue
    const worker = new Worker(name, create(deps), {
      connection: createWorkerRedis(config.redisUrl),
      prefix: config.queuePrefix,
      concurrency: 8,
      // A job whose worker died mid-way is picked up again after this; at-least-once, handlers are idempotent.
      stalledInterval: 30_000,
      maxStalledCount: 5,
    })
    worker.on('error', (err) => log.warn({ err, queue: name }, 'worker error'))
    worker.on('failed', (job, err) =>
      log.warn(
        { queue: name, jobId: job?.id, attempts: job?.attemptsMade, reason: err.message },
        'job failed',
      ),
    )
    workers.push(worker)
  }
  const relay = await startOutboxRelay({ db, pool, queues, schema: config.databaseSchema, log })
  const sealer = await startAuditSealer({ db, pool, hubKeys, log })
  log.info({ queues: workers.map((w) => w.name) }, 'worker started')
  return {
    relay,
    sealer,
    async close() {
      await Promise.all([relay.close(), sealer.close()])
      // Worker.close waits for active jobs to finish; unfinished ones return to the queue as stalled.
      await Promise.allSettled(workers.map((w) => w.close()))
      await closeQueues(queues)
      producer.disconnect()
      await db.destroy()
    },
  }
}
