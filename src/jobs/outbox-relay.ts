import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { Config } from '../config.js'
import type { Database } from '../db/types.js'
import { listPending, markRelayed } from '../modules/outbox/outbox.repository.js'
import { outboxChannel } from '../modules/outbox/outbox.service.js'
import { jobOptionsFor } from './job-options.js'
import type { QueueName, Queues } from './queues.js'

export interface RelayDeps {
  db: Kysely<Database>
  pool: pg.Pool
  queues: Queues
  schema: string | undefined
  config: Pick<Config, 'webhooks'>
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }
  sweepMs?: number
  batchSize?: number
}

export interface Relay {
  /** Relays one batch now; resolves to the number of rows moved. */
  runOnce(): Promise<number>
  close(): Promise<void>
}

/**
 * Moves committed outbox rows to BullMQ with the outbox id as job id, so a row relayed twice (after a
 * crash between add and mark) is still one job. Woken by NOTIFY, swept periodically as a backstop.
 * Single-active through a session advisory lock: other relays wait and take over if it dies.
 */
export async function startOutboxRelay(deps: RelayDeps): Promise<Relay> {
  const channel = outboxChannel(deps.schema)
  const batchSize = deps.batchSize ?? 200
  let closed = false
  let running: Promise<number> | undefined
  let again = false
  let client: pg.PoolClient | undefined
  let leader = false

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

  const drain = async (): Promise<number> => {
    let total = 0
    for (;;) {
      const moved = await relayBatch()
      total += moved
      if (moved < batchSize) return total
    }
  }

  const runOnce = (): Promise<number> => {
    if (running) {
      again = true
      return running
    }
    running = drain()
      .catch((error: unknown) => {
        deps.log.warn({ err: error }, 'outbox relay: batch failed; will retry')
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

  const lockKey = `trm-outbox-relay:${deps.schema ?? 'public'}`
  const tryLead = async () => {
    if (closed || leader) return
    try {
      if (!client) {
        const connected = await deps.pool.connect()
        connected.on('error', () => {
          // The session (and with it the lock) is gone: step down, the sweep timer retries.
          leader = false
          client = undefined
          connected.release(true)
        })
        client = connected
      }
      const { rows } = await client.query<{ ok: boolean }>(
        'select pg_try_advisory_lock(hashtext($1)) as ok',
        [lockKey],
      )
      if (!rows[0]?.ok) return
      leader = true
      client.on('notification', () => void runOnce())
      await client.query(`listen "${channel}"`)
      deps.log.info({ channel }, 'outbox relay: active')
      void runOnce()
    } catch (error) {
      deps.log.warn({ err: error }, 'outbox relay: cannot take the lead yet')
      client?.release(true)
      client = undefined
      leader = false
    }
  }

  await tryLead()
  const timer = setInterval(() => {
    if (leader) void runOnce()
    else void tryLead()
  }, deps.sweepMs ?? 1_000)

  return {
    runOnce,
    async close() {
      closed = true
      clearInterval(timer)
      await running
      if (client) {
        // Releasing with an error destroys the session, which also drops the advisory lock and LISTEN.
        client.release(true)
      }
    },
  }
}
