import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { Database } from '../db/types.js'
import type { HubKeys } from '../lib/hub-keys.js'
import { SEALER_CHANNEL_SQL } from '../modules/audit/audit.repository.js'
import { sealPending } from '../modules/audit/audit.service.js'

export interface SealerDeps {
  db: Kysely<Database>
  pool: pg.Pool
  hubKeys: HubKeys
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }
  sweepMs?: number
  /** Notifications within this time fold into one batch (and one checkpoint). */
  coalesceMs?: number
  batchSize?: number
}

export interface Sealer {
  /** Seals what is pending now; resolves to the number of events sealed. */
  runOnce(): Promise<number>
  close(): Promise<void>
}

/**
 * Gives committed audit events their place in the hash chain and signs a checkpoint after each batch
 * (sealPending). Woken by the NOTIFY each audit insert sends on commit (gathering what arrives in the
 * next 50 ms into the same batch), and swept every 500 ms as a backstop. Single-active through a
 * session advisory lock, like the outbox relay: other workers wait and take over if it dies.
 * sealPending takes its own transaction lock too, so a second sealer can never fork the chain,
 * whatever happens to the session lock.
 */
export async function startAuditSealer(deps: SealerDeps): Promise<Sealer> {
  const sealDeps = {
    db: deps.db,
    hubKeys: deps.hubKeys,
    ...(deps.batchSize ? { batchSize: deps.batchSize } : {}),
  }
  let closed = false
  let running: Promise<number> | undefined
  let again = false
  let client: pg.PoolClient | undefined
  let leader = false

  const runOnce = (): Promise<number> => {
    if (running) {
      again = true
      return running
    }
    running = sealPending(sealDeps)
      .catch((error: unknown) => {
        deps.log.warn({ err: error }, 'audit sealer: batch failed; will retry')
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

  // Under load every request notifies; sealing (and signing a checkpoint) per notification would cost
  // a transaction per event. A short delay lets events gather into one batch.
  let wakeTimer: NodeJS.Timeout | undefined
  const wake = () => {
    if (closed || wakeTimer) return
    wakeTimer = setTimeout(() => {
      wakeTimer = undefined
      void runOnce()
    }, deps.coalesceMs ?? 50)
  }

  // Destroying the session also drops the advisory lock and LISTEN; each connection is dropped once.
  const drop = (connection: pg.PoolClient) => {
    if (client !== connection) return
    client = undefined
    leader = false
    connection.release(true)
  }
  const lead = async () => {
    if (closed || leader) return
    try {
      if (!client) {
        const connected = await deps.pool.connect()
        client = connected
        // The session (and with it the lock) is gone: step down, the sweep timer retries.
        connected.on('error', () => drop(connected))
      }
      // Lock and channel follow the session's schema, as the inserts' NOTIFY does.
      const { rows } = await client.query<{ ok: boolean; channel: string }>(
        `select pg_try_advisory_lock(hashtext('trm-audit-sealer:' || current_schema())) as ok,
          ${SEALER_CHANNEL_SQL} as channel`,
      )
      const channel = rows[0]?.channel
      if (!rows[0]?.ok || !channel || closed) return
      leader = true
      client.on('notification', wake)
      await client.query(`listen ${client.escapeIdentifier(channel)}`)
      deps.log.info({ channel }, 'audit sealer: active')
      void runOnce()
    } catch (error) {
      deps.log.warn({ err: error }, 'audit sealer: cannot take the lead yet')
      if (client) drop(client)
    }
  }
  // One attempt at a time, however short the sweep interval.
  let attempt: Promise<void> | undefined
  const tryLead = () => {
    attempt ??= lead().finally(() => {
      attempt = undefined
    })
    return attempt
  }

  await tryLead()
  const timer = setInterval(() => {
    if (leader) void runOnce()
    else void tryLead()
  }, deps.sweepMs ?? 500)

  return {
    runOnce,
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      clearTimeout(wakeTimer)
      await attempt
      await running
      if (client) drop(client)
    },
  }
}
