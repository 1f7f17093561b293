import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { Config } from '../config.js'
import { dedicatedSession } from '../db/dedicated-session.js'
import type { Database } from '../db/types.js'
import type { HubKeys } from '../lib/hub-keys.js'
import { sweepOverdue } from '../modules/deadlines/deadlines.service.js'
import { escalateUnconfirmedErasures } from '../modules/deadlines/erasure-escalation.service.js'

export interface DeadlineSweepDeps {
  db: Kysely<Database>
  pool: pg.Pool
  config: Pick<Config, 'databaseSchema' | 'deadlineSweepMs'>
  /** Signs the `non_retrieval` evidence raised with each escalation. */
  hubKeys: HubKeys
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }
  now?: () => Date
  batchSize?: number
  /** Told how many referrals each sweep escalated (for the worker's metrics). */
  onEscalated?: (count: number) => void
}

export interface DeadlineSweep {
  /** Escalates what is overdue now; resolves to the number of referrals escalated. */
  runOnce(): Promise<number>
  /** True while this process holds the sweep's lock. */
  readonly active: boolean
  close(): Promise<void>
}

/**
 * Raises the escalation of every referral past its acknowledgement deadline, every
 * `deadlineSweepMs`, from the referrals themselves (their due time is a column, read through a
 * partial index of the open ones): no job or outbox row per referral, and nothing in Redis, so a
 * Redis flush or outage loses no deadline. Single-active through a session advisory lock, like the
 * outbox relay; each escalation also locks its referral `for update skip locked` and marks it
 * escalated in the same transaction, so it fires once per missed deadline even when sweeps overlap.
 * Each sweep then escalates the erasure requests of consent withdrawals past due, the same way.
 */
export async function startDeadlineSweep(deps: DeadlineSweepDeps): Promise<DeadlineSweep> {
  const batchSize = deps.batchSize ?? 100
  const sweepDeps = {
    db: deps.db,
    config: deps.config,
    hubKeys: deps.hubKeys,
    now: deps.now ?? (() => new Date()),
    batchSize,
    onError: (referralId: string, error: unknown) =>
      deps.log.warn({ err: error, referralId }, 'deadline sweep: escalation failed; will retry'),
  }
  let running: Promise<number> | undefined

  // Batch after batch while full ones escalate something: one that keeps failing is listed again
  // each time, and must not keep the sweep going round.
  const sweep = async (): Promise<number> => {
    let total = 0
    for (;;) {
      const { listed, escalated } = await sweepOverdue(sweepDeps)
      total += escalated
      if (escalated > 0) deps.onEscalated?.(escalated)
      if (listed < batchSize || escalated === 0) break
    }
    await sweepErasures()
    return total
  }
  // Holders that did not confirm a consent withdrawal's erasure in time, escalated once each (a
  // set-based statement over its own partial index; a failure holds back no referral deadline).
  const sweepErasures = async () => {
    try {
      const now = sweepDeps.now()
      for (;;) {
        const { escalated } = await escalateUnconfirmedErasures(deps, now, batchSize)
        if (escalated > 0) deps.log.info({ escalated }, 'unconfirmed erasures escalated')
        if (escalated < batchSize) return
      }
    } catch (error) {
      deps.log.warn({ err: error }, 'deadline sweep: erasure escalation failed; will retry')
    }
  }
  const runOnce = (): Promise<number> => {
    running ??= sweep()
      .catch((error: unknown) => {
        deps.log.warn({ err: error }, 'deadline sweep: sweep failed; will retry')
        return 0
      })
      .finally(() => {
        running = undefined
      })
    return running
  }

  const session = dedicatedSession({
    pool: deps.pool,
    name: 'deadline sweep',
    log: deps.log,
    lock: 'trm-deadline-sweep:',
    onActive: () => void runOnce(),
  })
  await session.started
  const timer = setInterval(() => {
    if (session.active) void runOnce()
  }, deps.config.deadlineSweepMs)

  return {
    runOnce,
    get active() {
      return session.active
    },
    async close() {
      clearInterval(timer)
      await running
      await session.close()
    },
  }
}
