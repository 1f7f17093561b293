import type { Kysely } from 'kysely'
import type { AfterCommit } from '../../db/after-commit.js'
import type { Database, NewOutboxRow } from '../../db/types.js'
import { newId } from '../../lib/ids.js'
import { insertOutbox } from './outbox.repository.js'

/**
 * Every BullMQ queue the hub uses (jobs/queues.ts creates them). The prefix carries a Redis Cluster hash tag, e.g. `{trm}`.
 * `deadlines` only drains the jobs earlier releases queued (nothing adds to it: the deadline sweep,
 * jobs/deadline-sweep.ts, raises escalations); it goes in the release after.
 */
export const QUEUE_NAMES = ['deadlines', 'webhooks', 'maintenance'] as const
export type QueueName = (typeof QUEUE_NAMES)[number]

/** The job that pushes one inbox message to its agency's webhook (jobs/webhooks.ts). */
export const WEBHOOK_JOB = { queue: 'webhooks', name: 'deliver' } as const satisfies {
  queue: QueueName
  name: string
}

/** The NOTIFY channel that wakes the relay; per schema, so isolated test schemas do not wake each other. */
export const outboxChannel = (schema: string | undefined) => `trm_outbox_${schema ?? 'public'}`

export interface OutboxJob {
  queue: QueueName
  name: string
  /** Ids only: job payloads never carry victim data (they sit in Redis). */
  payload: Record<string, string | number | boolean>
  runAt?: Date
}

/** The row a job is stored as until the relay moves it to BullMQ. */
export function outboxRow(job: OutboxJob): NewOutboxRow & { id: string } {
  return {
    id: newId(),
    queue: job.queue,
    job_name: job.name,
    payload: JSON.stringify(job.payload),
    run_at: job.runAt ?? null,
  }
}

/**
 * Schedules BullMQ work inside the caller's transaction. The relay moves it to Redis after commit,
 * so a request never calls Redis and Redis being down loses nothing.
 */
export async function enqueue(
  db: Kysely<Database>,
  afterCommit: AfterCommit,
  schema: string | undefined,
  job: OutboxJob,
): Promise<string> {
  const row = outboxRow(job)
  await insertOutbox(db, row)
  afterCommit.notify(outboxChannel(schema), '')
  return row.id
}
