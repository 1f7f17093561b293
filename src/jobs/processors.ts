import type { Job } from 'bullmq'
import { maintenanceProcessor } from './maintenance.js'
import type { QueueName } from './queues.js'
import type { JobDeps } from './worker-deps.js'

export type Processor = (job: Job) => Promise<unknown>

/** One processor per queue; each job file exports its own and is listed here. */
export const PROCESSORS: Partial<Record<QueueName, (deps: JobDeps) => Processor>> = {
  maintenance: maintenanceProcessor,
}
