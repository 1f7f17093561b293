import type { Job } from 'bullmq'
import { deadlineProcessor } from './deadlines.js'
import { maintenanceProcessor } from './maintenance.js'
import type { QueueName } from './queues.js'
import { webhookProcessor } from './webhooks.js'
import type { JobDeps } from './worker-deps.js'

/** A processor that declares `signal` gets an AbortSignal from BullMQ (when the worker cancels jobs). */
export type Processor = (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>

/** One processor per queue; each job file exports its own and is listed here. */
export const PROCESSORS: Partial<Record<QueueName, (deps: JobDeps) => Processor>> = {
  maintenance: maintenanceProcessor,
  deadlines: deadlineProcessor,
  webhooks: webhookProcessor,
}
