import type { Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { Config } from '../config.js'
import { dedicatedSession } from '../db/dedicated-session.js'
import type { Database } from '../db/types.js'
import { listPending, markRelayed, reopenOpenWork } from '../modules/ledger/outbox.repository.js'
import { outboxChannel } from '../modules/ledger/outbox.service.js'
import { jobOptionsFor } from './job-options.js'
import type { QueueName, Queues } from './queues.js'

export interface RelayDeps {
  db: Kysely<Database>
  pool: pg.Pool
  queues: Queues
  /** The connection the queues use (for the relay's marker key). */
  redis: Redis
  schema: string | undefined
  config: Pick<Config, 'webhooks' | 'queuePrefix'>
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }
  /** Called when Redis turns out to have lost its data, to put back what lives only there (schedules). */
  onRedisReset?: () => Promise<void>
  sweepMs?: number
  batchSize?: number
  /** Wait after a failed batch: from minMs, doubling per failure in a row, up to maxMs (±20 %). */
  backoff?: { minMs: number; maxMs: number }
}

export interface Relay {
  /** Relays what is pending now; resolves to the number of rows moved (0 while backing off). */
  runOnce(): Promise<number>
  /** Failed attempts in a row; while non-zero, wake-ups before the back-off has passed try nothing. */
  readonly failing: number
  close(): Promise<void>
}

/** The wait after `failures` failed attempts in a row (1-based): doubling from minMs, capped, jittered. */
export function relayBackoffMs(
  failures: number,
  backoff: { minMs: number; maxMs: number },
  random = Math.random,
) {
  const nominal = Math.min(backoff.maxMs, backoff.minMs * 2 ** (failures - 1))
  return Math.round(nominal * (0.8 + 0.4 * random()))
}

/** How often, at most, the relay asks Redis whether it still holds what it was given. */
const MARKER_CHECK_MS = 1_000

/**
 * Moves committed outbox rows to BullMQ with the outbox id as job id, so a row relayed twice (after a
 * crash between add and mark) is still one job. Woken by NOTIFY, swept periodically as a backstop.
 * Single-active through a session advisory lock: other relays wait and take over if it dies.
 *
 * Redis may lose what it was given (a restart without persistence, a flush, a failover to a replica
 * that was behind). The relay keeps a marker key in Redis beside the jobs; when the marker is gone,
 * so may be the jobs, and the relay marks every outbox row whose work is still open as unrelayed, so
 * it is relayed again. Postgres stays the record of what must still happen.
 */
export async function startOutboxRelay(deps: RelayDeps): Promise<Relay> {
  const channel = outboxChannel(deps.schema)
  const batchSize = deps.batchSize ?? 200
  const backoff = deps.backoff ?? { minMs: 500, maxMs: 5_000 }
  let closed = false
  let running: Promise<number> | undefined
  let again = false
  let failing = 0
  let retryAt = 0

  // No transaction around the Redis calls: a transaction that has written (or locked rows) holds
  // back the horizon below which inbox messages become readable, for every agency, as long as it
  // runs. The session advisory lock keeps relays from overlapping, and the job ids keep a row
  // relayed twice (a crash between add and mark) one job.
  const relayBatch = async (): Promise<number> => {
    const rows = await listPending(deps.db, batchSize)
    const byQueue = new Map<QueueName, Parameters<Queues[QueueName]['addBulk']>[0]>()
    for (const row of rows) {
      const queue = row.queue as QueueName
      const delay = row.run_at ? Math.max(0, row.run_at.getTime() - Date.now()) : 0
      const jobs = byQueue.get(queue) ?? byQueue.set(queue, []).get(queue)!
      jobs.push({
        name: row.job_name,
        data: row.payload,
        opts: { ...jobOptionsFor(queue, deps.config), jobId: row.id, delay },
      })
    }
    for (const [queue, jobs] of byQueue) await deps.queues[queue].addBulk(jobs)
    await markRelayed(
      deps.db,
      rows.map((r) => r.id),
    )
    return rows.length
  }

  const markerKey = `${deps.config.queuePrefix}:outbox-relayed:${deps.schema ?? 'public'}`
  let markerCheckedAt = 0
  const relayAgainIfRedisLostJobs = async () => {
    if (Date.now() - markerCheckedAt < MARKER_CHECK_MS) return
    if ((await deps.redis.exists(markerKey)) === 0) {
      const reopened = await reopenOpenWork(deps.db)
      if (reopened > 0) {
        deps.log.warn({ reopened }, 'outbox relay: Redis lost its jobs; relaying the open work again')
      }
      await deps.onRedisReset?.()
      await deps.redis.set(markerKey, new Date().toISOString())
    }
    markerCheckedAt = Date.now()
  }

  const drain = async (): Promise<number> => {
    await relayAgainIfRedisLostJobs()
    let total = 0
    for (;;) {
      const moved = await relayBatch()
      total += moved
      if (moved < batchSize) return total
    }
  }

  // While Redis (or Postgres) is away every wake-up would fail the same way: after a failure the
  // relay waits out a back-off, and says so once per outage rather than once per wake-up.
  const runOnce = (): Promise<number> => {
    if (running) {
      again = true
      return running
    }
    if (Date.now() < retryAt) return Promise.resolve(0)
    running = drain()
      .then((moved) => {
        if (failing > 0) deps.log.info({ failedAttempts: failing }, 'outbox relay: relaying again')
        failing = 0
        retryAt = 0
        return moved
      })
      .catch((error: unknown) => {
        failing += 1
        const wait = relayBackoffMs(failing, backoff)
        retryAt = Date.now() + wait
        if (failing === 1) deps.log.warn({ err: error }, 'outbox relay: batch failed; backing off')
        return 0
      })
      .finally(() => {
        running = undefined
        if (again && !closed) {
          again = false
          void runOnce()
        }
      })
    return running
  }

  // Single-active: the session's advisory lock (per schema) keeps relays from overlapping.
  const session = dedicatedSession({
    pool: deps.pool,
    name: 'outbox relay',
    log: deps.log,
    lock: 'trm-outbox-relay:',
    channels: [channel],
    onNotification: () => void runOnce(),
    onActive: () => void runOnce(),
  })
  await session.started
  const timer = setInterval(() => {
    if (session.active) void runOnce()
  }, deps.sweepMs ?? 1_000)

  return {
    runOnce,
    get failing() {
      return failing
    },
    async close() {
      closed = true
      clearInterval(timer)
      await running
      await session.close()
    },
  }
}
