import type { Kysely } from 'kysely'
import { Gauge, type Registry } from 'prom-client'
import type { Database } from '../../db/types.js'
import { isDatabaseUnavailable } from '../../lib/pg-errors.js'
import { AGENCY_KINDS } from '../agencies/agencies.schemas.js'
import { type HubStateRows, readHubState, STATE_COUNT_CAP } from './metrics.repository.js'

export interface HubStateGaugeDeps {
  db: Kysely<Database>
  /** Every queue name, so a queue with no backlog reads 0 rather than nothing. */
  queues: readonly string[]
  /** Told of a read that failed for another reason than Postgres being away (a timeout, a bug). */
  onError?: (error: unknown) => void
}

/**
 * Gauges of the hub's backlogs, read from Postgres when scraped (metrics.repository.ts): every gauge
 * of one scrape comes from the same read. While Postgres is away the scrape still answers:
 * `trm_hub_state_up` is 0 and the backlog gauges are absent, not stale.
 */
export function registerHubStateGauges(registry: Registry, deps: HubStateGaugeDeps): void {
  // prom-client collects every metric of a scrape at once: the first gauge starts the read, the
  // others wait on the same one, and the next scrape reads again.
  let reading: Promise<HubStateRows | undefined> | undefined
  const read = () => {
    reading ??= readHubState(deps.db)
      .catch((error: unknown) => {
        if (!isDatabaseUnavailable(error)) deps.onError?.(error)
        return undefined
      })
      .finally(() => {
        reading = undefined
      })
    return reading
  }
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (gauge: Gauge, state: HubStateRows) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const state = await read()
        this.reset()
        if (state) fill(this, state)
        // Without labels, prom-client keeps a 0 after reset: removed, so the gauge says nothing.
        else if (labelNames.length === 0) this.remove({})
      },
    })
  const byKind = <Row extends { kind: string }>(rows: Row[], value: (row: Row | undefined) => number) =>
    AGENCY_KINDS.map((kind) => [kind, value(rows.find((row) => row.kind === kind))] as const)

  new Gauge({
    name: 'trm_hub_state_up',
    help: 'Whether the last scrape read the backlog gauges from Postgres (1) or not (0)',
    registers: [registry],
    async collect() {
      this.set((await read()) ? 1 : 0)
    },
  })
  gauge(
    'trm_inbox_unconfirmed_messages',
    `Inbox messages not yet confirmed (read and confirmed, or delivered by webhook), active agencies, by agency kind (counted up to ${STATE_COUNT_CAP} per agency)`,
    ['kind'],
    (g, { inbox }) => {
      for (const [kind, n] of byKind(inbox, (row) => row?.unconfirmed ?? 0)) g.set({ kind }, n)
    },
  )
  gauge(
    'trm_inbox_oldest_unconfirmed_age_seconds',
    'Age of the oldest unconfirmed inbox message of any active agency of the kind (0: none waiting)',
    ['kind'],
    (g, { inbox }) => {
      for (const [kind, age] of byKind(inbox, (row) => row?.oldest_age_seconds ?? 0)) g.set({ kind }, age)
    },
  )
  gauge(
    'trm_webhook_deliveries',
    `Webhook deliveries to active agencies still pending, or failed after their last attempt (the dead letters), by agency kind (counted up to ${STATE_COUNT_CAP} per agency and status)`,
    ['kind', 'status'],
    (g, { deliveries }) => {
      for (const [kind, n] of byKind(deliveries, (row) => row?.pending ?? 0))
        g.set({ kind, status: 'pending' }, n)
      for (const [kind, n] of byKind(deliveries, (row) => row?.failed ?? 0))
        g.set({ kind, status: 'failed' }, n)
    },
  )
  gauge(
    'trm_webhook_oldest_pending_age_seconds',
    'Age of the oldest pending webhook delivery to an active agency of the kind (0: none pending)',
    ['kind'],
    (g, { deliveries }) => {
      for (const [kind, age] of byKind(deliveries, (row) => row?.oldest_pending_age_seconds ?? 0)) {
        g.set({ kind }, age)
      }
    },
  )
  gauge(
    'trm_outbox_backlog',
    `Outbox rows committed but not yet relayed to BullMQ, by queue, among the ${STATE_COUNT_CAP} oldest`,
    ['queue'],
    (g, { outbox }) => {
      for (const queue of deps.queues)
        g.set({ queue }, outbox.find((row) => row.queue === queue)?.backlog ?? 0)
    },
  )
  gauge(
    'trm_outbox_oldest_age_seconds',
    'Age of the oldest outbox row not yet relayed to BullMQ (0: none)',
    [],
    (g, { outbox }) => {
      g.set(Math.max(0, ...outbox.map((row) => row.oldest_age_seconds)))
    },
  )
  gauge(
    'trm_audit_unsealed_events',
    `Audit events written but not yet sealed into the hash chain (counted up to ${STATE_COUNT_CAP})`,
    [],
    (g, { audit }) => {
      g.set(audit.unsealed)
    },
  )
  gauge(
    'trm_deadlines_overdue',
    `Referrals past their acknowledgement deadline, still awaiting \`received\` and not yet escalated (counted up to ${STATE_COUNT_CAP}); the deadline sweep escalates them within DEADLINE_SWEEP_MS`,
    [],
    (g, { deadlines }) => {
      g.set(deadlines.overdue)
    },
  )
  gauge(
    'trm_deadlines_oldest_overdue_age_seconds',
    'How long past its deadline the longest-overdue referral not yet escalated is (0: none)',
    [],
    (g, { deadlines }) => {
      g.set(deadlines.oldest_age_seconds ?? 0)
    },
  )
  gauge(
    'trm_audit_seal_lag_seconds',
    'Age of the oldest audit event not yet sealed (0: everything sealed)',
    [],
    (g, { audit }) => {
      g.set(audit.oldest_age_seconds ?? 0)
    },
  )
}
